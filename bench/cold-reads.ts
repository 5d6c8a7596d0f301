export async function coldReadBenchmark() { return { backend: "TODO", backendCalls: -1, reads: 0, allFound: false, wallMs: 0 }; }
