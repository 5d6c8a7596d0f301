/**
 * The fewest characters a bearer token may have, wherever it comes from: a configured token
 * (`secretgate.auth.tokens[].token`) or SECRETGATE_ADMIN_TOKEN, which holds every right.
 */
export const MIN_TOKEN_CHARACTERS = 16;

export const TOKEN_LENGTH_RULE = `must be at least ${MIN_TOKEN_CHARACTERS} characters`;
