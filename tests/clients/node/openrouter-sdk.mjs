// `@openrouter/sdk` (the official OpenRouter TypeScript SDK) against mockrouter's openrouter dialect; see harness.mjs.
// Its responses go through strict zod schemas, so a field mockrouter gets wrong fails here.
import { OpenRouter } from "@openrouter/sdk";
import * as errors from "@openrouter/sdk/models/errors";

import { collectChunks, describeError, run, TOOL_RESULT, WEATHER_PARAMETERS } from "./harness.mjs";

const client = (serverURL, apiKey) => new OpenRouter({ serverURL, apiKey, timeoutMs: 20000 });
const user = (content) => [{ role: "user", content }];
// The SDK retries 5XX (and connection errors) by default, not 429; this opts 429 in (Retry-After is honoured).
const RETRY_429 = { retryCodes: ["429", "5XX"] };

async function raised(promise) {
  try {
    await promise;
  } catch (err) {
    return {
      raised: describeError(err),
      is_openrouter_error: err instanceof errors.OpenRouterError,
      error_body: err.error ?? null,
      retry_after: err.headers?.get?.("retry-after") ?? null,
    };
  }
  throw new Error("no error raised");
}

await run({
  async chat({ baseURL, key }) {
    const reply = await client(baseURL, key).chat.send({
      chatRequest: { model: "openai/gpt-4o-mini", messages: user("Hello from node openrouter") },
    });
    const choice = reply.choices[0];
    return {
      id: reply.id,
      model: reply.model,
      content: choice.message.content,
      finish_reason: choice.finishReason,
      usage: reply.usage,
    };
  },

  // No serverURL: the SDK reads OPENROUTER_BASE_URL (the test sets it), so unchanged app code can be pointed here.
  async env_base_url({ key }) {
    const reply = await new OpenRouter({ apiKey: key }).chat.send({
      chatRequest: { model: "openai/gpt-4o-mini", messages: user("Found through the environment") },
    });
    return { content: reply.choices[0].message.content, base_url: process.env.OPENROUTER_BASE_URL ?? null };
  },

  // The catalog through the SDK's (strict) Model schema: every field the spec requires must be there.
  async models({ baseURL, key }) {
    const { result: list } = await client(baseURL, key).models.list(); // the first (and only) page
    return {
      total_count: list.totalCount,
      count: list.data.length,
      ids: list.data.map((m) => m.id),
      tool_call_links: list.data.find((m) => m.id === "mockrouter/tool-call")?.links ?? null,
    };
  },

  // `slow` echoes the prompt after SSE keep-alive comments (": OPENROUTER PROCESSING"); speed 0 skips its delays.
  async stream({ baseURL, key }) {
    const stream = await client(baseURL, key).chat.send({
      chatRequest: { model: "mockrouter/slow", messages: user("Stream me, node openrouter"), stream: true },
    });
    return collectChunks(stream, "finishReason");
  },

  async tool_call({ baseURL, key }) {
    const openRouter = client(baseURL, key);
    const tools = [{ type: "function", function: { name: "get_weather", parameters: WEATHER_PARAMETERS } }];
    const messages = user("What is the weather in Paris?");
    const first = await openRouter.chat.send({ chatRequest: { model: "mockrouter/tool-call", messages, tools } });
    const message = first.choices[0].message;
    const call = message.toolCalls[0];
    messages.push(message, { role: "tool", toolCallId: call.id, content: TOOL_RESULT });
    const second = await openRouter.chat.send({ chatRequest: { model: "mockrouter/tool-call", messages, tools } });
    return {
      first_finish_reason: first.choices[0].finishReason,
      tool_calls: message.toolCalls.map((c) => ({ id: c.id, type: c.type, name: c.function.name, arguments: JSON.parse(c.function.arguments) })),
      content: second.choices[0].message.content,
      finish_reason: second.choices[0].finishReason,
    };
  },

  // GET /key through the SDK's strict schema; one request to a `:free` model first, so the free-model quota counts it.
  async key_metadata({ baseURL, key }) {
    const openRouter = client(baseURL, key);
    await openRouter.chat.send({ chatRequest: { model: "meta-llama/llama-3.3-70b-instruct:free", messages: user("Free") } });
    const { data } = await openRouter.apiKeys.getCurrentKeyMetadata();
    return data;
  },

  // GET /generation?id= of a chat just answered, through the SDK's strict schema.
  async generation({ baseURL, key }) {
    const openRouter = client(baseURL, key);
    const reply = await openRouter.chat.send({ chatRequest: { model: "openai/gpt-4o-mini", messages: user("Stats") } });
    // The entry is journaled as the answer ends, which may be just after the client has read it.
    await fetch(new URL("/__mockrouter/wait", baseURL), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ key, count: 1, timeout_ms: 5000 }),
    });
    const { data } = await openRouter.generations.getGeneration({ id: reply.id });
    return { reply_id: reply.id, id: data.id, model: data.model, data_region: data.dataRegion };
  },

  async credits({ baseURL, key }) {
    const { data } = await client(baseURL, key).credits.getCredits();
    return data;
  },

  // The keys API (no keys file: any key may manage keys): create, read, list, rename, delete.
  async keys_api({ baseURL, key }) {
    const openRouter = client(baseURL, key);
    const created = await openRouter.apiKeys.create({ requestBody: { name: `node-${key}`, limit: 5 } });
    const hash = created.data.hash;
    const got = await openRouter.apiKeys.get({ hash });
    const listed = await openRouter.apiKeys.list();
    const updated = await openRouter.apiKeys.update({ hash, requestBody: { name: "renamed" } });
    const deleted = await openRouter.apiKeys.delete({ hash });
    return {
      created: created.data,
      raw_key_prefix: created.key.slice(0, 9),
      got_hash: got.data.hash,
      listed: listed.data.some((k) => k.hash === hash),
      updated_name: updated.data.name,
      deleted: deleted.deleted,
    };
  },

  async error({ baseURL, key }) {
    return raised(
      client(baseURL, key).chat.send({ chatRequest: { model: "mockrouter/insufficient-credits", messages: user("Hi") } }),
    );
  },

  // Without retryCodes the SDK does not retry a 429: the caller gets TooManyRequestsResponseError.
  async rate_limited_default({ baseURL, key }) {
    return raised(
      client(baseURL, key).chat.send({ chatRequest: { model: "mockrouter/rate-limited", messages: user("Once only") } }),
    );
  },

  async rate_limited({ baseURL, key }) {
    const started = Date.now();
    const reply = await client(baseURL, key).chat.send(
      { chatRequest: { model: "mockrouter/rate-limited", messages: user("Worth the wait") } },
      RETRY_429,
    );
    return { content: reply.choices[0].message.content, elapsed_ms: Date.now() - started };
  },
});
