import type { DriverContext, DriverDefinition, SecretDriver } from "../../src/drivers/driver.js";

/** A back end's driver as the server makes it: its definition loads its driver module, which creates it. */
export async function createDriver(definition: DriverDefinition, context: DriverContext): Promise<SecretDriver> {
  return (await definition.load()).createDriver(context);
}
