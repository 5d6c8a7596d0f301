// AWS KMS is emulated by the one AWS endpoint in ../aws-common/endpoint.ts, which also answers
// Secrets Manager and STS (as LocalStack does): `npm run emulator -- aws-kms` starts it.
export { startEmulator } from "../aws-common/endpoint.js";
