/**
 * Throwaway X.509 material for tests, made with `openssl` (the tool the e2e's control plane uses
 * too): a CA, and leaf certificates it signs for given names. Each lives in its own temporary
 * directory as PEM files.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export interface Pem {
  /** Certificate file (PEM). */
  readonly cert: string;
  /** Private key file (PEM, unencrypted). */
  readonly key: string;
}

function openssl(args: string[], cwd: string): void {
  const r = spawnSync("openssl", args, { cwd, encoding: "utf8", timeout: 60_000 });
  if (r.error) throw new Error(`openssl is required for this test: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`openssl ${args[0]} failed (${r.status}): ${r.stderr}`);
}

/** A certificate authority in a fresh temporary directory. */
export class TestCa implements Pem {
  readonly dir: string;
  readonly cert: string;
  readonly key: string;
  private serial = 1;

  constructor(readonly name = "sovereign test CA") {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), "sovereign-pki-"));
    this.cert = path.join(this.dir, "ca.crt");
    this.key = path.join(this.dir, "ca.key");
    openssl(
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-days",
        "2",
        "-subj",
        `/CN=${name}`,
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout",
        this.key,
        "-out",
        this.cert,
      ],
      this.dir,
    );
  }

  /**
   * A server certificate signed by this CA for the given subject alternative names
   * (`DNS:name` or `IP:address`), with a serial number of its own.
   */
  issue(label: string, altNames: readonly string[]): Pem & { readonly serial: string } {
    const serial = (this.serial++).toString(16).padStart(4, "0");
    const key = path.join(this.dir, `${label}.key`);
    const csr = path.join(this.dir, `${label}.csr`);
    const cert = path.join(this.dir, `${label}.crt`);
    const ext = path.join(this.dir, `${label}.ext`);
    fs.writeFileSync(
      ext,
      [
        "basicConstraints=critical,CA:FALSE",
        "keyUsage=critical,digitalSignature,keyEncipherment",
        "extendedKeyUsage=serverAuth",
        `subjectAltName=${altNames.join(",")}`,
      ].join("\n"),
    );
    openssl(
      [
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-subj",
        `/CN=${label}`,
        "-keyout",
        key,
        "-out",
        csr,
      ],
      this.dir,
    );
    openssl(
      [
        "x509",
        "-req",
        "-in",
        csr,
        "-CA",
        this.cert,
        "-CAkey",
        this.key,
        "-set_serial",
        `0x${serial}`,
        "-days",
        "1",
        "-extfile",
        ext,
        "-out",
        cert,
      ],
      this.dir,
    );
    fs.chmodSync(key, 0o600);
    return { cert, key, serial };
  }

  destroy(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
