import { create, type JsonObject } from "@bufbuild/protobuf";
import {
  BackendDescriptionSchema,
  type DescribeBackendsResponse,
  DescribeBackendsResponseSchema,
} from "../../gen/secretgate/v1/admin_service_pb.js";
import type { Backend } from "./backends.js";
import { teamSettingsJsonSchema } from "./team-settings.js";

/** Made on first use: only DescribeBackends needs them. */
const schemas = new WeakMap<Backend, JsonObject>();

/**
 * DescribeBackends: `described` (the back ends the caller may reach, in configuration order) —
 * what each is, what it can do, how it is doing, and the JSON Schema of its team settings. Never
 * its credentials or its `env`.
 */
export function describeBackends(described: readonly Backend[], defaultBackend: Backend): DescribeBackendsResponse {
  return create(DescribeBackendsResponseSchema, {
    backends: described.map((backend) => {
      const { capabilities } = backend;
      return create(BackendDescriptionSchema, {
        name: backend.name,
        system: backend.system,
        capabilities: { write: capabilities.write, binary: capabilities.binary, list: capabilities.list },
        accessMode: backend.policy.accessMode,
        isDefault: backend === defaultBackend,
        reachable: backend.reachable,
        breakerState: backend.driver.breakerState,
        cacheEntries: BigInt(backend.driver.cacheSize.entries),
        teamSettingsSchema: schemaOf(backend),
      });
    }),
  });
}

function schemaOf(backend: Backend): JsonObject {
  let schema = schemas.get(backend);
  if (!schema) {
    schema = teamSettingsJsonSchema(backend.definition, backend.name) as JsonObject;
    schemas.set(backend, schema);
  }
  return schema;
}
