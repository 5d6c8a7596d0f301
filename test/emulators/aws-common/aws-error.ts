/** An AWS error as the services answer it: a type (`__type` / STS `Code`), a message and a status. */
export class AwsError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

export const notFound = (message = "Secrets Manager can't find the specified secret.") =>
  new AwsError("ResourceNotFoundException", message);
export const invalidParameter = (message: string) => new AwsError("InvalidParameterException", message);
export const invalidRequest = (message: string) => new AwsError("InvalidRequestException", message);
