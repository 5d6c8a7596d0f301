import { Document, Scalar, YAMLMap } from "yaml";

/**
 * Conjur policy documents, built as YAML nodes so any name (quotes, colons, `#`, unicode) is
 * quoted by the serializer — never by string concatenation.
 */
function variableRecord(id: string): Scalar {
  const record = new Scalar(id);
  record.tag = "!variable";
  return record;
}

/** `- !variable <id>`: declares a variable in the branch the policy is loaded into. */
export function declareVariablePolicy(id: string): string {
  return new Document([variableRecord(id)]).toString();
}

/** `- !delete {record: !variable <id>}`: removes the variable and its values (PATCH only). */
export function deleteVariablePolicy(id: string): string {
  const deletion = new YAMLMap();
  deletion.tag = "!delete";
  deletion.set("record", variableRecord(id));
  return new Document([deletion]).toString();
}
