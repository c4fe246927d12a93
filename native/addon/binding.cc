#include <napi.h>

#include "addon.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData(new emperor::AddonData());
  emperor::InitTeardown(env);
  emperor::InitErrors(env, exports);
  emperor::InitChildHandle(env, exports);
  emperor::InitSpawn(env, exports);
  emperor::InitFdOps(env, exports);
  emperor::InitExec(env, exports);
  emperor::InitExchange(env, exports);
  emperor::InitChannel(env, exports);
  emperor::InitUnixOps(env, exports);
  emperor::InitFdWatch(env, exports);
  return exports;
}
NODE_API_MODULE(emperor_native, Init)
