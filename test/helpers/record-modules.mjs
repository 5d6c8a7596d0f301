// Preloaded with `node --import` by tests that check what a server loads: records the URL of
// every module the process loads (import and require alike) and writes the list to the file
// SECRETGATE_TEST_MODULES_FILE names when the process exits.
import { writeFileSync } from "node:fs";
import { registerHooks } from "node:module";

const loaded = new Set();
registerHooks({
  load(url, context, nextLoad) {
    loaded.add(url);
    return nextLoad(url, context);
  },
});
process.on("exit", () => writeFileSync(process.env.SECRETGATE_TEST_MODULES_FILE, [...loaded].join("\n")));
