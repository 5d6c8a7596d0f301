import { enableCompileCache } from "node:module";

// Start-up is mostly loading modules. Node's compile cache (in the OS temp directory, or
// NODE_COMPILE_CACHE) keeps their compiled code across restarts; it is enabled before anything
// else is imported, so it covers all of them. Where it cannot be written, Node carries on without it.
enableCompileCache();
await import("./start.js");
