#include <napi.h>

#include "addon.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  emperor::InitChildHandle(env, exports);
  emperor::InitSpawn(env, exports);
  emperor::InitFdOps(env, exports);
  emperor::InitExec(env, exports);
  emperor::InitStatBatch(env, exports);
  emperor::InitExchange(env, exports);
  return exports;
}
NODE_API_MODULE(emperor_native, Init)
