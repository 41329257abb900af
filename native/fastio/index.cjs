'use strict';
// The compiled addon, or null where it could not be built (see fastio.c for what is lost then).
let addon = null;
try { addon = require('./build/Release/fastio.node'); } catch { addon = null; }
module.exports = addon;
