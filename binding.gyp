{
  "targets": [
    {
      "target_name": "emperor_native",
      "sources": [
        "<!@(ls -1 native/addon/*.cc native/common/*.cc 2>/dev/null)"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "native/common"
      ],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS", "_GNU_SOURCE"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-fno-exceptions", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "ldflags": ["-Wl,-z,now"]
    },
    {
      "target_name": "emperor-init",
      "type": "executable",
      "sources": [
        "<!@(ls -1 native/init/*.cc native/common/*.cc 2>/dev/null)"
      ],
      "include_dirs": ["native/common"],
      "defines": ["_GNU_SOURCE"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-Os", "-fno-exceptions", "-fno-rtti", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "ldflags": ["-static"]
    },
    {
      "target_name": "emperor-agent",
      "type": "executable",
      "sources": [
        "<!@(ls -1 native/agent/*.cc 2>/dev/null)"
      ],
      "defines": ["_GNU_SOURCE"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-Os", "-fno-exceptions", "-fno-rtti", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "ldflags": ["-static"]
    },
    {
      "target_name": "emperor-setpriv",
      "type": "executable",
      "sources": [
        "native/setpriv/main.cc",
        "<!@(ls -1 native/common/*.cc 2>/dev/null)"
      ],
      "include_dirs": ["native/common"],
      "defines": ["_GNU_SOURCE"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-Os", "-fno-exceptions", "-fno-rtti", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "ldflags": ["-static-libstdc++", "-static-libgcc"]
    }
  ]
}
