/**
 * The common name of one of a stack's private CAs (cert-manager): `sovereign <stack> <what>`, or
 * `<stack> <what>` cut to 64 characters where that is longer. cert-manager's webhook refuses a
 * Certificate whose commonName is over 64 characters (X.509's upper bound), and Pulumi allows
 * stack names of 100.
 */
export function caCommonName(stack: string, what: "CA" | "data CA" | "model CA" | "Kueue CA"): string {
  const full = `sovereign ${stack} ${what}`;
  return full.length <= 64 ? full : `${stack} ${what}`.slice(0, 64);
}
