import { create, type JsonObject } from "@bufbuild/protobuf";
import { BackendDescriptionSchema, DescribeBackendsResponseSchema, type DescribeBackendsResponse } from "../../gen/secretgate/v1/secret_service_pb.js";
import type { Identity } from "../auth/identity.js";
import type { ServiceBackend, ServiceBackends } from "./service-backends.js";
import { teamSettingsJsonSchema } from "./team-settings.js";

/** Made on first use: only DescribeBackends needs them. */
const schemas = new WeakMap<ServiceBackend, JsonObject>();

/**
 * DescribeBackends: every back end `identity` may use, in configuration order — what it is, what
 * it can do, how it is doing, and the JSON Schema of its team settings. Never its credentials or
 * its `env`.
 */
export function describeBackends(backends: ServiceBackends, identity: Identity): DescribeBackendsResponse {
  return create(DescribeBackendsResponseSchema, {
    backends: backends.all
      .filter((backend) => identity.mayUse(backend.name))
      .map((backend) => {
        const { capabilities } = backend.backend.driver;
        return create(BackendDescriptionSchema, {
          name: backend.name,
          system: backend.system,
          capabilities: { write: capabilities.write, binary: capabilities.binary, list: capabilities.list },
          accessMode: backend.policy.accessMode,
          isDefault: backend === backends.default,
          reachable: backend.reachable,
          breakerState: backend.backend.breakerState,
          cacheEntries: BigInt(backend.backend.cacheSize.entries),
          teamSettingsSchema: schemaOf(backend),
        });
      }),
  });
}

function schemaOf(backend: ServiceBackend): JsonObject {
  let schema = schemas.get(backend);
  if (!schema) {
    schema = teamSettingsJsonSchema(backend.definition, backend.name) as JsonObject;
    schemas.set(backend, schema);
  }
  return schema;
}
