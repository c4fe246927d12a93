{
  # One set of flags for every target: warnings are errors, shadowed names too. emperor-init and emperor-agent are
  # static programs (the init is pid 1 of every native vassal, the agent runs as a tenant), no exceptions, no RTTI.
  "target_defaults": {
    "defines": ["_GNU_SOURCE"],
    "include_dirs": ["native/common"],
    "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
    "cflags_cc": ["-std=c++17", "-fno-exceptions", "-Wall", "-Wextra", "-Wshadow", "-Werror", "-Wno-unused-parameter"]
  },
  "targets": [
    {
      "target_name": "emperor_native",
      "sources": ["<!@(ls -1 native/addon/*.cc native/common/*.cc)"],
      # -isystem: node-addon-api's own headers are not held to our -Wshadow
      "cflags_cc": ["-isystem", "<!(node -p \"require('path').resolve(require('node-addon-api').include_dir)\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"],
      "ldflags": ["-Wl,-z,now"]
    },
    {
      "target_name": "emperor-init",
      "type": "executable",
      "sources": ["<!@(ls -1 native/init/*.cc native/common/*.cc)"],
      "cflags_cc": ["-Os", "-fno-rtti"],
      "ldflags": ["-static"]
    },
    {
      "target_name": "emperor-agent",
      "type": "executable",
      "sources": ["<!@(ls -1 native/agent/*.cc)"],
      "cflags_cc": ["-Os", "-fno-rtti"],
      "ldflags": ["-static"]
    },
    {
      "target_name": "emperor-setpriv",
      "type": "executable",
      "sources": ["native/setpriv/main.cc", "<!@(ls -1 native/common/*.cc)"],
      "cflags_cc": ["-Os", "-fno-rtti"],
      "ldflags": ["-static-libstdc++", "-static-libgcc"]
    }
  ]
}
