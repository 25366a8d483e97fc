// A client app's whole flow through the TypeScript SDK that @hey-api/openapi-ts generated from
// the served /openapi.json, and through nothing else. Run by tests/api/sdk.rs: type-checked and
// compiled by tsc (strict) beside the generated `./client`, then run with node. The base URL is
// the one the document's `servers` entry gave the generated client.

import { createClient, createConfig } from "./client/client";
import { client as documentClient } from "./client/client.gen";
import {
  acceptInvitation,
  createApiKey,
  createOrganization,
  deleteDocument,
  deleteOrganization,
  getDocument,
  getOrganization,
  insertDocument,
  invite,
  listAuditEvents,
  listDocuments,
  listMembers,
  login,
  logout,
  replaceDocument,
  revokeApiKey,
  updateOrganization,
} from "./client/sdk.gen";
import type { DocumentResponse, Problem } from "./client/types.gen";

type Answer<T> = { data?: T; error?: unknown; response?: Response };

/** The answer's body when it has `status`; anything else ends the flow with what came back. */
function expect<T>(step: string, answer: Answer<T>, status: number): T {
  arrived(step, answer, status);
  return answer.data as T;
}

/** The problem an answer with an error `status` carries. */
function expectProblem(step: string, answer: Answer<unknown>, status: number): Problem {
  arrived(step, answer, status);
  return answer.error as Problem;
}

function arrived(step: string, answer: Answer<unknown>, status: number): void {
  const got = answer.response?.status;
  if (got !== status) {
    throw new Error(`${step}: expected ${status}, got ${got} ${JSON.stringify(answer.error ?? answer.data)}`);
  }
  console.log(`typescript sdk: ${step}: ${status}`);
}

function check(condition: boolean, what: string, value?: unknown): void {
  if (!condition) throw new Error(`${what}: ${JSON.stringify(value)}`);
}

async function main(): Promise<void> {
  const baseUrl = documentClient.getConfig().baseUrl;
  check(typeof baseUrl === "string" && baseUrl.startsWith("http://"), "the servers entry is the base URL", baseUrl);
  const run = Math.random().toString(16).slice(2, 10);
  const [name, email, password] = [`Ts Sdk ${run}`, `owner-${run}@sdk.test`, "typescript sdk passphrase"];
  const anonymous = documentClient;

  const created = expect(
    "create",
    await createOrganization({ client: anonymous, body: { organization_name: name, email, password } }),
    201,
  );
  check(created.collection_name === `org_ts_sdk_${run}`, "collection", created);

  const logIn = async (who: string, secret: string) => {
    const token = expect(
      `log in as ${who}`,
      await login({ client: anonymous, body: { email: who, password: secret } }),
      200,
    );
    // A header of the client, not its `auth`: the generated SDK applies `auth` only to operations
    // that require a token, and GET /org/get and POST /org/create take one without requiring it.
    const headers = { Authorization: `Bearer ${token.access_token}` };
    return createClient(createConfig({ baseUrl, headers }));
  };

  let owner = await logIn(email, password);
  const own = expect("get (signed in)", await getOrganization({ client: owner, query: { organization_name: name } }), 200);
  check(own.admin_email === email, "own organization shows its admin", own);

  const stored: DocumentResponse[] = [];
  for (const n of [0, 1, 2]) {
    const content = { title: `report ${n}`, pages: n, tags: ["a", { nested: [n, [n]] }] };
    const document = expect(`store document ${n}`, await insertDocument({ client: owner, body: content }), 201);
    check(JSON.stringify(document.data) === JSON.stringify(content), "stored as sent", document);
    stored.push(document);
  }

  const seen: DocumentResponse[] = [];
  let after: string | undefined;
  for (;;) {
    const page = expect("page documents", await listDocuments({ client: owner, query: { limit: 2, after } }), 200);
    seen.push(...page.documents);
    if (!page.next) break;
    after = page.next;
  }
  const ids = (documents: DocumentResponse[]) => documents.map((d) => d.id).sort().join();
  check(ids(seen) === ids(stored), "every page together", seen);

  const first = stored[0].id;
  const read = expect("read document", await getDocument({ client: owner, path: { id: first } }), 200);
  check(JSON.stringify(read.data) === JSON.stringify(stored[0].data), "read back", read);
  const replacement = { title: "replaced", done: true };
  const replaced = expect(
    "replace document",
    await replaceDocument({ client: owner, path: { id: first }, body: replacement }),
    200,
  );
  check(JSON.stringify(replaced.data) === JSON.stringify(replacement), "replaced", replaced);
  expect("delete document", await deleteDocument({ client: owner, path: { id: first } }), 200);
  const gone = expectProblem("read deleted document", await getDocument({ client: owner, path: { id: first } }), 404);
  check(gone.code === "document_not_found", "problem code", gone);

  const newName = `Ts Sdk Renamed ${run}`;
  const renamed = expect("rename", await updateOrganization({ client: owner, body: { organization_name: newName } }), 200);
  // 200 and 202 are both successes: the body tells which one came.
  check("collection_name" in renamed && renamed.collection_name === `org_ts_sdk_renamed_${run}`, "renamed", renamed);
  const left = expect("page after rename", await listDocuments({ client: owner }), 200);
  check(left.documents.length === 2, "documents kept across the rename", left);

  // A client app with a key alone.
  const key = expect(
    "create API key",
    await createApiKey({ client: owner, body: { name: "typescript app", scopes: ["documents:read"] } }),
    201,
  );
  check(typeof key.key === "string" && key.key.startsWith("osk_"), "the key is shown once", key);
  const app = createClient(createConfig({ baseUrl, headers: { Authorization: `Bearer ${key.key}` } }));
  const readByKey = expect("page documents with the key", await listDocuments({ client: app }), 200);
  check(readByKey.documents.length === 2, "the key reads the documents", readByKey);
  expect("revoke API key", await revokeApiKey({ client: owner, path: { id: key.id } }), 204);
  expectProblem("the key after revocation", await listDocuments({ client: app }), 401);

  const memberEmail = `member-${run}@sdk.test`;
  const invitation = expect("invite", await invite({ client: owner, body: { email: memberEmail, role: "member" } }), 201);
  check(typeof invitation.token === "string", "invitation token", invitation);
  const joined = expect(
    "accept",
    await acceptInvitation({ client: anonymous, body: { token: invitation.token!, password: "member passphrase" } }),
    200,
  );
  check(joined.role === "member", "joined as member", joined);
  const members = expect("list members", await listMembers({ client: owner }), 200);
  const roster = members.members.map((m) => `${m.email}:${m.role}`).sort().join();
  check(roster === [`${email}:owner`, `${memberEmail}:member`].sort().join(), "roster", members);

  const audit = expect("audit log", await listAuditEvents({ client: owner, query: { limit: 100 } }), 200);
  const actions = new Set(audit.events.map((event) => event.action));
  for (const action of ["organization_created", "organization_renamed", "invitation_created", "member_joined"] as const) {
    check(actions.has(action), `audit has ${action}`, [...actions]);
  }

  expect("log out", await logout({ client: owner }), 204);
  expectProblem("token after log out", await listMembers({ client: owner }), 401);

  owner = await logIn(email, password);
  const deleted = expect(
    "delete",
    await deleteOrganization({ client: owner, query: { organization_name: newName } }),
    200,
  );
  check("id" in deleted && deleted.id === created.id, "deleted", deleted);
  expectProblem("get deleted", await getOrganization({ client: anonymous, query: { organization_name: newName } }), 404);
  console.log("typescript sdk: the whole flow passed");
}

main().catch((error: unknown) => {
  console.error(`typescript sdk: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
