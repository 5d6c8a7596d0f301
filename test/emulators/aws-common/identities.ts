import { randomBytes } from "node:crypto";
import { AwsError } from "./aws-error.js";

export const ACCOUNT_ID = "123456789012";

/** The emulator's long-term keys, printed by `npm run emulator -- aws` for sandbox users. */
export const ROOT_CREDENTIALS = {
  accessKeyId: "AKIASECRETGATE000001",
  secretAccessKey: "secretgate-emulator-secret-access-key",
};

export interface Identity {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiresAt?: number;
  /** The caller as AWS would name it: a user ARN or an assumed-role session ARN. */
  principal: string;
}

/** Who may call: the root keys plus every set of credentials STS has issued. */
export class Identities {
  private readonly byAccessKey = new Map<string, Identity>();

  constructor() {
    this.byAccessKey.set(ROOT_CREDENTIALS.accessKeyId, {
      ...ROOT_CREDENTIALS,
      principal: `arn:aws:iam::${ACCOUNT_ID}:user/secretgate-emulator`,
    });
  }

  issue(principal: string, lifetimeSeconds: number): Identity {
    const identity: Identity = {
      accessKeyId: `ASIA${randomBytes(8).toString("hex").toUpperCase()}`,
      secretAccessKey: randomBytes(30).toString("base64"),
      sessionToken: randomBytes(48).toString("base64"),
      expiresAt: Date.now() + lifetimeSeconds * 1000,
      principal,
    };
    this.byAccessKey.set(identity.accessKeyId, identity);
    return identity;
  }

  /** The identity behind an access key, checking its session token and expiry as AWS does. */
  authenticate(accessKeyId: string, sessionToken: string | undefined, invalidTokenType: string): Identity {
    const identity = this.byAccessKey.get(accessKeyId);
    if (!identity || identity.sessionToken !== sessionToken) {
      throw new AwsError(invalidTokenType, "The security token included in the request is invalid.", 403);
    }
    if (identity.expiresAt !== undefined && identity.expiresAt <= Date.now()) {
      throw new AwsError("ExpiredTokenException", "The security token included in the request is expired", 400);
    }
    return identity;
  }
}
