/** Stage 1: who is calling (OIDC token or API key) and as which team. */
import type * as http from "node:http";
import type { Authenticator, Principal } from "../auth";
import { header, type RequestContext } from "./context";

export async function authenticate(
  auth: Authenticator,
  req: http.IncomingMessage,
  ctx: RequestContext,
): Promise<Principal> {
  const p = await auth.authenticate(req.headers.authorization, header(req, "x-sovereign-team"));
  ctx.principal = p;
  return p;
}
