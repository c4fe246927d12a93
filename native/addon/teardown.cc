// The loop handles whose callbacks call into JS, per environment, so that none of them fires while Node tears that
// environment down: Node turns the loop again after the environment's cleanup hooks have run, with the napi_env
// freed, and a child exiting (or an fd turning readable) right then would be reported through freed memory.
#include <unordered_map>
#include <unordered_set>

#include "addon.h"

namespace emperor {
namespace {

std::unordered_map<napi_env, std::unordered_set<uv_handle_t*>>& Guarded() {
  static std::unordered_map<napi_env, std::unordered_set<uv_handle_t*>> guarded;
  return guarded;
}

// A cleanup hook, installed when the addon loads and so run before N-API's own: the handles stop, and the rest is
// left to the process's end.
void StopGuarded(void* arg) {
  auto& all = Guarded();
  auto it = all.find(static_cast<napi_env>(arg));
  if (it == all.end()) return;
  for (uv_handle_t* h : it->second) {
    if (uv_handle_get_type(h) == UV_POLL)
      uv_poll_stop(reinterpret_cast<uv_poll_t*>(h));
    else if (uv_handle_get_type(h) == UV_TIMER)
      uv_timer_stop(reinterpret_cast<uv_timer_t*>(h));
  }
  all.erase(it);
}

}  // namespace

void GuardHandle(napi_env env, uv_handle_t* h) { Guarded()[env].insert(h); }

void UnguardHandle(napi_env env, uv_handle_t* h) {
  auto it = Guarded().find(env);
  if (it != Guarded().end()) it->second.erase(h);
}

void InitTeardown(Napi::Env env) { napi_add_env_cleanup_hook(env, StopGuarded, env); }

}  // namespace emperor
