-- wrk script: POST a ~200-byte request on one API surface (SURFACE=chat|messages|responses,
-- default chat), non-streaming unless STREAM=1. The URL given to wrk must be that surface's route.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-bench"
local stream = (os.getenv("STREAM") == "1") and "true" or "false"
local surface = os.getenv("SURFACE") or "chat"
local prompt = "Say hello to the benchmark, please, in a few words."
if surface == "messages" then
  wrk.headers["anthropic-version"] = "2023-06-01"
  wrk.body = '{"model":"openai/gpt-4o-mini","max_tokens":1024,"stream":' .. stream ..
    ',"system":"You are terse.","messages":[{"role":"user","content":"' .. prompt .. '"}]}'
elseif surface == "responses" then
  wrk.body = '{"model":"openai/gpt-4o-mini","stream":' .. stream ..
    ',"instructions":"You are terse.","input":"' .. prompt .. '"}'
else
  wrk.body = '{"model":"openai/gpt-4o-mini","stream":' .. stream ..
    ',"messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"' .. prompt .. '"}]}'
end
