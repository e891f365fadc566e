/**
 * Names and references of the model servers' API keys (pure; the Secrets and the keys themselves
 * are made by components/platform/model-keys.ts, which says who gets which key).
 */
import { modelServiceName } from "./endpoints";

/** The key's entry in each of its Secrets. */
export const MODEL_API_KEY_FIELD = "api-key";

/** The Secret holding a model server's key, by the same name in every namespace that gets it. */
export function modelApiKeySecretName(model: string): string {
  return `${modelServiceName(model)}-api-key`;
}

/** The gateway's Secret: `keys.json`, `{"<model>": "<key>"}` of the models it routes to. */
export const GATEWAY_MODEL_KEYS_SECRET = "gateway-model-api-keys";
export const GATEWAY_MODEL_KEYS_FILE = "keys.json";

/** The gateway's `keys.json` (GATEWAY_MODEL_API_KEYS_FILE): model name to key, sorted by model. */
export function gatewayModelKeysJson(keys: Readonly<Record<string, string>>): string {
  return JSON.stringify(
    Object.fromEntries(
      Object.keys(keys)
        .sort()
        .map((m) => [m, keys[m]]),
    ),
  );
}

/** A reference to one model server's key in a namespace's Secret. */
export interface ModelKeyRef {
  readonly secretName: string;
  readonly key: string;
}

export function modelKeyRef(model: string): ModelKeyRef {
  return { secretName: modelApiKeySecretName(model), key: MODEL_API_KEY_FIELD };
}

/** An environment variable read from a model server's key Secret. */
export function modelKeyEnv(name: string, ref: ModelKeyRef): Record<string, unknown> {
  return { name, valueFrom: { secretKeyRef: { name: ref.secretName, key: ref.key } } };
}
