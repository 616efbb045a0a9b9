// Shared by the client scripts: read the server address, run named cases, print one JSON line per case.
//
//   MOCKROUTER_BASE_URL=http://127.0.0.1:PORT/api/v1 MOCKROUTER_KEY=sk-... node openai.mjs [case ...]
//
// Each case gets its own API key (`${MOCKROUTER_KEY}-${case}`), so cursors and journal entries of two
// cases never meet; the line names the key so the test can read that key's journal. A case returns
// what the client gave back (or the error it raised, when raising is the point); an unexpected throw
// is reported as {"ok": false, "error": ...}. Cases run concurrently, each with a timeout.

const CASE_TIMEOUT_MS = Number(process.env.MOCKROUTER_CASE_TIMEOUT_MS ?? 30000);

const keyPrefix = process.env.MOCKROUTER_KEY ?? `sk-node-${process.pid}`;

/** What an error looks like in the output: its class, status and message, whatever the client calls them. */
export function describeError(err) {
  if (err === null || typeof err !== "object") return { name: typeof err, message: String(err) };
  const out = { name: err.constructor?.name ?? err.name, message: String(err.message ?? "") };
  for (const field of ["status", "statusCode", "code", "type", "isRetryable"]) {
    if (err[field] !== undefined && typeof err[field] !== "function") out[field] = err[field];
  }
  if (err.cause && typeof err.cause === "object") out.cause = describeError(err.cause);
  return out;
}

function withTimeout(promise, ms, name) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`case ${name} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Run the cases named on the command line (all when none), concurrently; one JSON line each. */
export async function run(cases) {
  if (!process.env.MOCKROUTER_BASE_URL) {
    console.error("set MOCKROUTER_BASE_URL (e.g. http://127.0.0.1:8080/api/v1)");
    process.exit(2);
  }
  const wanted = process.argv.slice(2);
  const unknown = wanted.filter((name) => !(name in cases));
  if (unknown.length) {
    console.error(`unknown case(s) ${unknown.join(", ")}; known: ${Object.keys(cases).join(", ")}`);
    process.exit(2);
  }
  const names = wanted.length ? wanted : Object.keys(cases);
  await Promise.all(
    names.map(async (name) => {
      const key = `${keyPrefix}-${name}`;
      let line;
      try {
        const result = await withTimeout(cases[name]({ baseURL: process.env.MOCKROUTER_BASE_URL, key }), CASE_TIMEOUT_MS, name);
        line = { case: name, key, ok: true, result };
      } catch (err) {
        line = { case: name, key, ok: false, error: describeError(err), stack: String(err?.stack ?? "") };
      }
      process.stdout.write(JSON.stringify(line) + "\n");
    }),
  );
}

/** A tool whose only argument has one allowed value, so the arguments mockrouter draws are known. */
export const WEATHER_PARAMETERS = {
  type: "object",
  properties: { city: { type: "string", enum: ["Paris"] } },
  required: ["city"],
  additionalProperties: false,
};
export const TOOL_RESULT = '{"temp_c":21}';

/**
 * Drain an OpenAI-shaped chunk stream: joined content deltas, the finish reason and usage as the
 * client parsed them. `finishField` is the client's spelling (`finish_reason`, or `finishReason`).
 */
export async function collectChunks(stream, finishField) {
  const deltas = [];
  let finishReason = null;
  let usage = null;
  let chunks = 0;
  for await (const chunk of stream) {
    chunks += 1;
    const choice = chunk.choices[0];
    if (choice?.delta?.content) deltas.push(choice.delta.content);
    if (choice?.[finishField]) finishReason = choice[finishField];
    if (chunk.usage) usage = chunk.usage;
  }
  return { content: deltas.join(""), deltas: deltas.length, chunks, finish_reason: finishReason, usage };
}
