#!/usr/bin/env -S node --max-semi-space-size=8 --no-allocation-site-pretenuring
import "../dist/src/main.js";
