/** GET /api/openapi.json: every route of the app described, nothing else, with the zod schemas the routes validate with. */
import { env, SELF } from "cloudflare:test";
import type { Hono } from "hono";
import { beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../../src/http/app";
import type { AppEnv } from "../../src/http/env";
import { statusOf } from "../../src/protocol/errors";
import { limits } from "../../src/protocol/limits";
import { api, BASE, createGroup, register } from "./helpers";

interface Operation {
  summary?: string;
  description?: string;
  security?: Record<string, string[]>[];
  parameters?: { in: string; name: string; required?: boolean; schema: Record<string, unknown> }[];
  requestBody?: { required?: boolean; content: Record<string, { schema: Schema }> };
  responses: Record<string, { description: string; content?: Record<string, { schema: Schema }> }>;
}
interface Schema {
  $ref?: string;
  type?: string | string[];
  properties?: Record<string, Schema & { minLength?: number; maxLength?: number; pattern?: string; enum?: string[] }>;
  required?: string[];
}
interface Document {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Schema>; securitySchemes: Record<string, unknown> };
}

const METHODS = ["get", "put", "post", "delete", "patch", "head", "options", "trace"];

/** The app's real routes as "METHOD /openapi/{style}": middleware (`ALL`, `*` paths) left out, each route once. */
function appRoutes(app: Hono<AppEnv>): Set<string> {
  const routes = app.routes.filter((r) => r.method !== "ALL" && !r.path.includes("*"));
  // `:name`, `:name{regex}` and `:name?` all become `{name}`.
  return new Set(routes.map((r) => `${r.method} ${r.path.replace(/:([A-Za-z0-9_]+)(\{[^}]*\})?\??/g, "{$1}")}`));
}

function documentedRoutes(doc: Document): Set<string> {
  return new Set(Object.entries(doc.paths).flatMap(([path, item]) => Object.keys(item).filter((m) => METHODS.includes(m)).map((m) => `${m.toUpperCase()} ${path}`)));
}

/** Routes the app has and the document does not describe, and the other way round. */
function compare(app: Hono<AppEnv>, doc: Document) {
  const real = appRoutes(app);
  const documented = documentedRoutes(doc);
  return { undocumented: [...real].filter((r) => !documented.has(r)).sort(), nonexistent: [...documented].filter((r) => !real.has(r)).sort() };
}

const operations = (doc: Document) => Object.entries(doc.paths).flatMap(([path, item]) => Object.entries(item).map(([method, op]) => ({ route: `${method.toUpperCase()} ${path}`, path, op })));

let doc: Document;
beforeAll(async () => {
  const res = await SELF.fetch(`${BASE}/api/openapi.json`);
  expect(res.status).toBe(200);
  expect(res.headers.get("Content-Type")).toMatch(/^application\/json/);
  doc = await res.json();
});

describe("the OpenAPI document", () => {
  it("is served without a token and looks like OpenAPI 3.x", () => {
    expect(doc.openapi).toMatch(/^3\.\d+\.\d+$/);
    expect(doc.info).toMatchObject({ title: expect.any(String), version: expect.any(String) });
    expect(Object.keys(doc.paths).length).toBeGreaterThan(0);
    expect(doc.components.securitySchemes).toHaveProperty("bearer");
    // Every reference resolves: a schema the generator failed to lift would dangle.
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1]!);
    expect(refs.length).toBeGreaterThan(0);
    for (const name of new Set(refs)) expect(doc.components.schemas, name).toHaveProperty([name]);
  });

  it("describes every route of the app, and no route the app does not have", () => {
    expect(compare(createApp(), doc)).toEqual({ undocumented: [], nonexistent: [] });
    // Not vacuous: the routes of the contract are there, in OpenAPI path syntax.
    const documented = documentedRoutes(doc);
    for (const route of ["POST /api/auth/refresh", "GET /api/chats/{chatId}/messages", "DELETE /api/chats/{chatId}/members/{userId}", "GET /api/chats/{chatId}/ws", "GET /api/inbox/ws", "GET /api/openapi.json"]) {
      expect(documented).toContain(route);
    }
    expect(documented.size).toBeGreaterThanOrEqual(20);
  });

  it("would report a route added without a description", async () => {
    const app = createApp();
    app.get("/api/chats/:chatId/secret", (c) => c.text("not in the document"));
    const res = await app.request("/api/openapi.json", {}, env);
    expect(compare(app, (await res.json()) as Document).undocumented).toEqual(["GET /api/chats/{chatId}/secret"]);
  });

  it("gives every operation a summary, a success answer and the error shape, at the status of each code", () => {
    for (const { route, op } of operations(doc)) {
      expect(op.summary, route).toEqual(expect.any(String));
      const statuses = Object.keys(op.responses);
      expect(statuses.some((s) => /^(2\d\d|101)$/.test(s)), route).toBe(true);
      expect(statuses, route).toContain("500");
      for (const [status, response] of Object.entries(op.responses).filter(([s]) => Number(s) >= 400)) {
        expect(response.content?.["application/json"]?.schema, `${route} ${status}`).toEqual({ $ref: "#/components/schemas/Error" });
        const code = /^`([a-z_]+)`/.exec(response.description)?.[1] as keyof typeof statusOf;
        expect(statusOf[code], `${route} ${status} ${response.description}`).toBe(Number(status));
      }
    }
    const error = doc.components.schemas["Error"]!;
    expect(error.required?.sort()).toEqual(["code", "error"]);
    expect(error.properties?.["code"]?.enum?.sort()).toEqual(Object.keys(statusOf).sort());
  });

  it("lists 400 on every operation that validates a path, query or body (a failed validation answers 400)", () => {
    const validating = operations(doc).filter(({ op }) => (op.parameters?.length ?? 0) > 0 || op.requestBody !== undefined);
    // Not vacuous: most routes validate something.
    expect(validating.length).toBeGreaterThanOrEqual(20);
    for (const { route, op } of validating) expect(Object.keys(op.responses), route).toContain("400");
  });

  it("gives an upload's 413 as the file size limit, not the 64 KiB of JSON bodies", () => {
    const upload = doc.paths["/api/chats/{chatId}/attachments"]!["post"]!.responses["413"]!;
    expect(upload.description).toContain("size limit");
    expect(upload.description).not.toContain("64 KiB");
    expect(doc.paths["/api/chats"]!["post"]!.responses["413"]!.description).toContain("64 KiB");
  });

  it("asks for a token on every route but register, login, the VAPID key and itself, and says 401 for it", () => {
    const publicRoutes = ["POST /api/auth/register", "POST /api/auth/login", "GET /api/push/vapid-public-key", "GET /api/openapi.json"];
    for (const { route, op } of operations(doc)) {
      if (publicRoutes.includes(route)) {
        expect(op.security, route).toEqual([]);
        continue;
      }
      expect(op.security, route).toContainEqual({ bearer: [] });
      expect(Object.keys(op.responses), route).toContain("401");
    }
  });

  it("takes path parameters from the routes' zod schemas", () => {
    for (const { route, path, op } of operations(doc)) {
      for (const [, name] of path.matchAll(/\{([^}]+)\}/g)) {
        const param = op.parameters?.find((p) => p.in === "path" && p.name === name);
        // Ids have idString's pattern (a parameter hono-openapi had to guess would be a bare string);
        // the one other path parameter is an emoji, a string of at most 32 characters.
        // An attachment id names its chat and a random part.
        const schema =
          name === "emoji"
            ? { type: "string", maxLength: 32 }
            : name === "id" && route.includes("/api/attachments/")
              ? { type: "string", pattern: "^[1-9][0-9]{0,15}-[A-Za-z0-9_-]{22}$" }
              : { type: "string", pattern: "^[1-9][0-9]{0,15}$" };
        expect(param, `${route} ${name}`).toMatchObject({ required: true, schema });
      }
    }
  });

  it("takes bodies and queries from the routes' zod schemas, limits included", () => {
    const register = doc.paths["/api/auth/register"]!["post"]!.requestBody!;
    expect(register.required).toBe(true);
    const body = register.content["application/json"]!.schema;
    expect(body.required?.sort()).toEqual(["password", "username"]);
    expect(body.properties?.["username"]).toMatchObject({ type: "string", minLength: limits.usernameMin, maxLength: limits.usernameMax, pattern: "^[A-Za-z0-9_.-]+$" });
    expect(body.properties?.["password"]).toMatchObject({ type: "string", minLength: limits.passwordMin, maxLength: limits.passwordMax });

    const send = doc.paths["/api/chats/{chatId}/messages"]!["post"]!.requestBody!.content["application/json"]!.schema;
    // content may be left out when the message carries attachments (a refinement, in the description).
    expect(send.required ?? []).not.toContain("content");
    expect(send.properties?.["attachmentIds"]).toMatchObject({ type: "array", maxItems: limits.attachmentsPerMessageMax });
    expect(send.properties?.["clientId"]).toMatchObject({ minLength: 1, maxLength: limits.clientIdMax });

    const history = doc.paths["/api/chats/{chatId}/messages"]!["get"]!.parameters!.filter((p) => p.in === "query");
    expect(history.map((p) => p.name).sort()).toEqual(["after", "before", "limit"]);
    expect(history.every((p) => !p.required)).toBe(true);
  });

  it("describes the WebSocket upgrades with 101, their error answers and where the frames are", () => {
    for (const path of ["/api/chats/{chatId}/ws", "/api/inbox/ws"]) {
      const op = doc.paths[path]!["get"]!;
      expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(["101", "401", "403", "426"]));
      expect(op.description).toContain("docs/PROTOCOL.md");
      expect(op.security).toEqual([{ bearer: [] }, { queryToken: [] }]);
    }
    expect(Object.keys(doc.paths["/api/chats/{chatId}/ws"]!["get"]!.responses)).toContain("404");
    expect(doc.paths["/api/chats/{chatId}/ws"]!["get"]!.parameters?.map((p) => p.name)).toContain("since");
  });

  it("documents the fields the API really answers with", async () => {
    const [ann, bob] = await Promise.all([register("oa"), register("ob")]);
    const group = await createGroup(ann, [bob]);
    const sent = await api("POST", `/api/chats/${group.id}/messages`, { token: ann.token, body: { content: "documented" } });
    const chat = (await api("GET", `/api/chats/${group.id}`, { token: ann.token })).body;
    const fields = (name: string) => Object.keys(doc.components.schemas[name]!.properties!).sort();
    const required = (name: string) => [...doc.components.schemas[name]!.required!].sort();
    expect(Object.keys(chat).sort()).toEqual(fields("Chat"));
    expect(required("Chat")).toEqual(fields("Chat"));
    expect(Object.keys(sent.body).sort()).toEqual(fields("Message"));
    expect(Object.keys(chat.members[0]).sort()).toEqual(fields("ChatMember"));
    expect(Object.keys(ann).filter((k) => k !== "password").sort()).toEqual(fields("Auth"));
    expect(doc.paths["/api/chats/{chatId}"]!["get"]!.responses["200"]!.content!["application/json"]!.schema).toEqual({ $ref: "#/components/schemas/Chat" });
  });
});
