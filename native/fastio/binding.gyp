{
  "targets": [
    {
      "target_name": "fastio",
      "sources": ["fastio.c", "md5.c"],
      "cflags": ["-O3", "-funroll-loops"],
      "libraries": ["-lm"]
    }
  ]
}
