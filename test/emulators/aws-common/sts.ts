import { randomUUID } from "node:crypto";
import { AwsError } from "./aws-error.js";
import { ACCOUNT_ID, type Identities, type Identity } from "./identities.js";

const ROLE_ARN = /^arn:aws:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/;
const SESSION_NAME = /^[\w+=,.@-]{2,64}$/;
const JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

export interface StsOptions {
  identities: Identities;
  /** Roles that insist on an external id. */
  externalIds: Map<string, string>;
}

/** STS's query protocol: form-encoded requests, XML answers. */
export function handleSts(
  action: string,
  params: URLSearchParams,
  caller: Identity | undefined,
  options: StsOptions,
): string {
  switch (action) {
    case "AssumeRole": {
      const { roleArn, sessionName, duration } = roleParams(params);
      const required = options.externalIds.get(roleArn);
      if (required !== undefined && params.get("ExternalId") !== required) {
        throw new AwsError(
          "AccessDenied",
          `User: ${caller?.principal} is not authorized to perform: sts:AssumeRole on resource: ${roleArn}`,
          403,
        );
      }
      return credentialsXml("AssumeRole", issue(roleArn, sessionName, duration, options), "");
    }
    case "AssumeRoleWithWebIdentity": {
      const { roleArn, sessionName, duration } = roleParams(params);
      const token = params.get("WebIdentityToken") ?? "";
      if (!JWT.test(token))
        throw new AwsError("InvalidIdentityToken", "The ID Token provided is not a valid JWT.", 400);
      const extra = `<SubjectFromWebIdentityToken>system:serviceaccount:emulator</SubjectFromWebIdentityToken><Provider>emulator</Provider><Audience>sts.amazonaws.com</Audience>`;
      return credentialsXml("AssumeRoleWithWebIdentity", issue(roleArn, sessionName, duration, options), extra);
    }
    case "GetCallerIdentity":
      return xml(
        "GetCallerIdentity",
        `<Arn>${escapeXml(caller?.principal ?? "")}</Arn><UserId>${escapeXml(caller?.accessKeyId ?? "")}</UserId><Account>${ACCOUNT_ID}</Account>`,
      );
    default:
      throw new AwsError("InvalidAction", `Could not find operation ${action} for version 2011-06-15`, 400);
  }
}

function roleParams(params: URLSearchParams): { roleArn: string; sessionName: string; duration: number } {
  const roleArn = params.get("RoleArn") ?? "";
  const sessionName = params.get("RoleSessionName") ?? "";
  if (!ROLE_ARN.test(roleArn))
    throw new AwsError("ValidationError", `${JSON.stringify(roleArn)} is invalid for RoleArn: must be a role ARN`, 400);
  if (!SESSION_NAME.test(sessionName))
    throw new AwsError(
      "ValidationError",
      "1 validation error detected: Value at 'roleSessionName' failed to satisfy constraint",
      400,
    );
  const duration = Number(params.get("DurationSeconds") ?? 3600);
  if (!Number.isInteger(duration) || duration < 900 || duration > 43_200) {
    throw new AwsError("ValidationError", "DurationSeconds must be between 900 and 43200", 400);
  }
  return { roleArn, sessionName, duration };
}

function issue(roleArn: string, sessionName: string, duration: number, options: StsOptions): Identity {
  const roleName = roleArn.slice(roleArn.lastIndexOf("/") + 1);
  return options.identities.issue(`arn:aws:sts::${ACCOUNT_ID}:assumed-role/${roleName}/${sessionName}`, duration);
}

function credentialsXml(action: string, identity: Identity, extra: string): string {
  const expiration = new Date(identity.expiresAt!).toISOString().replace(/\.\d{3}Z$/, "Z");
  return xml(
    action,
    `<Credentials><AccessKeyId>${identity.accessKeyId}</AccessKeyId><SecretAccessKey>${escapeXml(identity.secretAccessKey)}</SecretAccessKey>` +
      `<SessionToken>${escapeXml(identity.sessionToken!)}</SessionToken><Expiration>${expiration}</Expiration></Credentials>` +
      `<AssumedRoleUser><AssumedRoleId>AROAEMULATOR:${escapeXml(identity.principal.split("/").pop()!)}</AssumedRoleId><Arn>${escapeXml(identity.principal)}</Arn></AssumedRoleUser>` +
      extra,
  );
}

function xml(action: string, result: string): string {
  return (
    `<${action}Response xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><${action}Result>${result}</${action}Result>` +
    `<ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></${action}Response>`
  );
}

export function stsErrorXml(error: AwsError): string {
  const type = error.status >= 500 ? "Receiver" : "Sender";
  return (
    `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>${type}</Type><Code>${error.type}</Code>` +
    `<Message>${escapeXml(error.message)}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`
  );
}

const escapeXml = (text: string) => text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
