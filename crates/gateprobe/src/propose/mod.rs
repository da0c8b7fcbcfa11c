//! PROPOSE: the stage between PLAN and EXECUTE where a scenario with a golden `prompt` asks an
//! assistant (an OpenAI-compatible chat endpoint and a versioned prompt bundle) which tool calls
//! it proposes; each proposed call then goes through EXECUTE as the scenario's identity, like a
//! fixed `call:`. Assistants propose, gateways decide: an assistant is never an `Adapter`.
//!
//! Empty until the golden-prompt path is built: today `prompt:` reaches the gateway only as call
//! metadata, and every scenario's call is the one its suite fixes.
