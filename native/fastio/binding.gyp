{
  "targets": [
    {
      "target_name": "fastio",
      "sources": ["fastio.c"],
      "cflags": ["-O2"]
    }
  ]
}
