import { invalidArgument } from "../../core/errors.js";

// Secrets Manager names: 1–512 of A-Za-z0-9/_+=.@- (docs/backends/aws-secrets-manager.md, "Names"). A full secret
// ARN is accepted where a name is read.
const SECRET_NAME = /^[A-Za-z0-9/_+=.@-]{1,512}$/;
const SECRET_ARN = /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]{1,512}$/;

/** Refuses names Secrets Manager would reject, before any network call. */
export function checkSecretName(name: string, allowArn = false): void {
  if (SECRET_NAME.test(name) || (allowArn && SECRET_ARN.test(name))) return;
  throw invalidArgument(
    `secret name ${JSON.stringify(name)} is not valid for ` +
      `AWS Secrets Manager: use 1 to 512 of the characters A-Z a-z 0-9 / _ + = . @ -`,
  );
}
