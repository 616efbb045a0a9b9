// The Vercel AI SDK (`ai`) with `@openrouter/ai-sdk-provider`, against mockrouter's openrouter dialect; see harness.mjs.
import { createOpenRouter } from "@openrouter/ai-sdk-provider";
import { APICallError, generateText, stepCountIs, streamText, tool } from "ai";
import { z } from "zod";

import { describeError, run, TOOL_RESULT } from "./harness.mjs";

const provider = (baseURL, apiKey) => createOpenRouter({ baseURL, apiKey });

await run({
  async chat({ baseURL, key }) {
    const result = await generateText({
      model: provider(baseURL, key)("openai/gpt-4o-mini"),
      prompt: "Hello from the node ai sdk",
    });
    return { text: result.text, finish_reason: result.finishReason, usage: result.usage, model: result.response.modelId };
  },

  // `slow` echoes the prompt after SSE keep-alive comments (": OPENROUTER PROCESSING"); speed 0 skips its delays.
  async stream({ baseURL, key }) {
    const errors = [];
    const result = streamText({
      model: provider(baseURL, key)("mockrouter/slow"),
      prompt: "Stream me, node ai sdk",
      onError: ({ error }) => errors.push(describeError(error)),
    });
    const deltas = [];
    for await (const delta of result.textStream) deltas.push(delta);
    return {
      content: deltas.join(""),
      deltas: deltas.length,
      finish_reason: await result.finishReason,
      usage: await result.usage,
      errors,
    };
  },

  async tool_call({ baseURL, key }) {
    const executed = [];
    const result = await generateText({
      model: provider(baseURL, key)("mockrouter/tool-call"),
      prompt: "What is the weather in Paris?",
      tools: {
        get_weather: tool({
          description: "The weather in a city",
          inputSchema: z.object({ city: z.enum(["Paris"]) }),
          execute: async (input) => {
            executed.push(input);
            return JSON.parse(TOOL_RESULT);
          },
        }),
      },
      stopWhen: stepCountIs(2),
    });
    const [first] = result.steps;
    return {
      steps: result.steps.length,
      first_finish_reason: first.finishReason,
      tool_calls: first.toolCalls.map((c) => ({ id: c.toolCallId, name: c.toolName, arguments: c.input })),
      executed,
      content: result.text,
      finish_reason: result.finishReason,
    };
  },

  async error({ baseURL, key }) {
    try {
      await generateText({ model: provider(baseURL, key)("mockrouter/insufficient-credits"), prompt: "Hi" });
    } catch (err) {
      return { raised: describeError(err), is_api_call_error: APICallError.isInstance(err) };
    }
    throw new Error("no error raised");
  },

  async rate_limited({ baseURL, key }) {
    const started = Date.now();
    const result = await generateText({ model: provider(baseURL, key)("mockrouter/rate-limited"), prompt: "Worth the wait" });
    return { content: result.text, elapsed_ms: Date.now() - started };
  },
});
