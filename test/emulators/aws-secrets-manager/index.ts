// AWS Secrets Manager is emulated by the one AWS endpoint in ../aws-common/endpoint.ts, which also
// answers KMS and STS (as LocalStack does): `npm run emulator -- aws-secrets-manager` starts it.
export { startEmulator } from "../aws-common/endpoint.js";
