import { z } from "zod";
import { ConfigError } from "../../config/config-error.js";
import type { Env } from "../../config/env.js";
import type { CredentialEnvironment } from "../../config/known-system.js";

/**
 * An AWS region as AWS names them (`us-east-1`, `us-gov-west-1`, `cn-north-1`, `eu-isoe-west-1`).
 * The SDKs put the region in endpoint host names: `evil.example.com` or `x/y` must never get
 * that far (they ended as INTERNAL "Region not accepted" after the SDK refused them).
 */
const AWS_REGION = /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/;
const REGION_RULE = "must be an AWS region such as us-east-1";
export const awsRegion = z.string().regex(AWS_REGION, REGION_RULE);

/**
 * Where and as whom AWS calls go, as STS documents the values: a team may set these too (docs/configuration.md,
 * "Team settings").
 * The role is an IAM role ARN; the session name and external id are STS's character sets.
 */
export const awsLocationSettings = {
  aws_region_name: awsRegion.optional(),
  aws_role_name: z
    .string()
    .max(2048)
    .regex(
      /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/,
      "must be an IAM role ARN (arn:aws:iam::123456789012:role/NAME)",
    )
    .optional(),
  aws_session_name: z
    .string()
    .regex(/^[\w+=,.@-]{2,64}$/, "must be 2 to 64 of letters, digits and +=,.@_-")
    .optional(),
  aws_external_id: z
    .string()
    .regex(/^[\w+=,.@:/-]{2,1224}$/, "must be 2 to 1224 of letters, digits and +=,.@:/_-")
    .optional(),
};

/**
 * What a stored credential belongs to (DriverDefinition.teamLocationKeys): an external id is the
 * secret a role's owner gave for that role, wherever in the partition it is assumed from.
 */
export const AWS_LOCATION_KEYS = ["aws_role_name"] as const;

/**
 * The AWS credential keys LiteLLM users put in `key_management_settings` (docs/backends/aws-secrets-manager.md,
 * "Configuration").
 */
export const awsConnectionSettings = {
  ...awsLocationSettings,
  aws_profile_name: z.string().min(1).optional(),
  aws_web_identity_token: z.string().min(1).optional(),
  aws_sts_endpoint: z.url().optional(),
  /** The service endpoint (a VPC endpoint or an emulator); overrides AWS_ENDPOINT_URL*. */
  endpoint: z.url().optional(),
};

/** Environment variables that hold the AWS back ends' own credentials and endpoints: never looked up in them. */
export const AWS_CREDENTIAL_ENV_NAMES = [
  "AWS_REGION_NAME",
  "AWS_REGION",
  "AWS_DEFAULT_REGION",
  "AWS_ACCESS_KEY_ID",
  "AWS_SECRET_ACCESS_KEY",
  "AWS_SESSION_TOKEN",
  "AWS_ROLE_NAME",
  "AWS_SESSION_NAME",
  "AWS_EXTERNAL_ID",
  "AWS_PROFILE_NAME",
  "AWS_PROFILE",
  "AWS_WEB_IDENTITY_TOKEN",
  "AWS_WEB_IDENTITY_TOKEN_FILE",
  "AWS_ROLE_ARN",
  "AWS_STS_ENDPOINT",
  "AWS_ENDPOINT_URL",
  "AWS_ENDPOINT_URL_SECRETS_MANAGER",
  "AWS_ENDPOINT_URL_KMS",
  "AWS_ENDPOINT_URL_STS",
] as const;

/**
 * What both AWS back ends read of the environment: LiteLLM's names above, and the families the
 * SDK's credential chain reads (keys, session tokens, profiles, shared files, container and
 * web-identity credentials, roles, endpoints; the ECS task metadata endpoint).
 */
export const AWS_CREDENTIAL_ENVIRONMENT: CredentialEnvironment = {
  names: AWS_CREDENTIAL_ENV_NAMES,
  families: ["AWS_", "ECS_CONTAINER_METADATA_"],
};

/** A role to assume, as LiteLLM users name it (`aws_role_name` holds the role ARN). */
export interface RoleToAssume {
  roleArn: string;
  sessionName: string;
  externalId?: string;
}

/** Everything needed to reach one AWS service with the service's own identity. */
export interface AwsConnection {
  region: string;
  /** The STS session name for roles assumed without one of their own. */
  sessionName: string;
  /** The service endpoint, when not the public AWS one. */
  endpoint?: string;
  stsEndpoint?: string;
  role?: RoleToAssume;
  profile?: string;
  webIdentityToken?: string;
  staticKeys?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** IRSA: a role and a token file the platform rotates. */
  tokenFileRole?: { roleArn: string; tokenFile: string };
}

export type AwsService = "SECRETS_MANAGER" | "KMS";

export const DEFAULT_SESSION_NAME = "secretgate";

/**
 * Resolves settings over LiteLLM's environment variables. The SDK would read some of these from
 * process.env on its own; resolving them here keeps the driver's view in one place and lets
 * tests hand in their own environment.
 */
export function resolveAwsConnection(settings: Record<string, unknown>, env: Env, service: AwsService): AwsConnection {
  const setting = (key: keyof typeof awsConnectionSettings) => settings[key] as string | undefined;
  const pick = (...values: Array<string | undefined>) => values.find((value) => value !== undefined && value !== "");

  const region = pick(setting("aws_region_name"), env.AWS_REGION_NAME, env.AWS_REGION, env.AWS_DEFAULT_REGION);
  if (!region) {
    throw new ConfigError(
      "general_settings.key_management_settings.aws_region_name: not set, and " +
        "none of AWS_REGION_NAME, AWS_REGION, AWS_DEFAULT_REGION is set",
    );
  }
  if (!AWS_REGION.test(region)) {
    const variable = (["AWS_REGION_NAME", "AWS_REGION", "AWS_DEFAULT_REGION"] as const).find(
      (name) => env[name] === region,
    );
    throw new ConfigError(`${variable ?? "general_settings.key_management_settings.aws_region_name"} ${REGION_RULE}`);
  }
  const endpoint = pick(setting("endpoint"), env[`AWS_ENDPOINT_URL_${service}`], env.AWS_ENDPOINT_URL);
  const stsEndpoint = pick(
    setting("aws_sts_endpoint"),
    env.AWS_STS_ENDPOINT,
    env.AWS_ENDPOINT_URL_STS,
    env.AWS_ENDPOINT_URL,
  );
  const roleArn = pick(setting("aws_role_name"), env.AWS_ROLE_NAME);
  const sessionName = pick(setting("aws_session_name"), env.AWS_SESSION_NAME) ?? DEFAULT_SESSION_NAME;
  const externalId = pick(setting("aws_external_id"), env.AWS_EXTERNAL_ID);
  const profile = pick(setting("aws_profile_name"), env.AWS_PROFILE_NAME);
  const webIdentityToken = pick(setting("aws_web_identity_token"), env.AWS_WEB_IDENTITY_TOKEN);
  const accessKeyId = pick(env.AWS_ACCESS_KEY_ID);
  const secretAccessKey = pick(env.AWS_SECRET_ACCESS_KEY);
  const sessionToken = pick(env.AWS_SESSION_TOKEN);
  const irsaRole = pick(env.AWS_ROLE_ARN);
  const irsaFile = pick(env.AWS_WEB_IDENTITY_TOKEN_FILE);

  if (webIdentityToken && !roleArn) {
    throw new ConfigError(
      "general_settings.key_management_settings.aws_web_identity_token: needs " +
        "aws_role_name (the role to assume with it)",
    );
  }
  if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
    throw new ConfigError("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together");
  }
  return {
    region,
    sessionName,
    ...(endpoint ? { endpoint } : {}),
    ...(stsEndpoint ? { stsEndpoint } : {}),
    ...(roleArn ? { role: { roleArn, sessionName, ...(externalId ? { externalId } : {}) } } : {}),
    ...(profile ? { profile } : {}),
    ...(webIdentityToken ? { webIdentityToken } : {}),
    ...(accessKeyId && secretAccessKey
      ? { staticKeys: { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) } }
      : {}),
    ...(irsaRole && irsaFile ? { tokenFileRole: { roleArn: irsaRole, tokenFile: irsaFile } } : {}),
  };
}
