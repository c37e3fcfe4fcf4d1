{
  "includes": ["../bench/traffic/traffic.gypi"],
  "variables": {
    "sanitize%": "<!(echo ${BANANA_SANITIZE:-0})",
    "triplet%": "<!(gcc -dumpmachine)"
  },
  "target_defaults": {
    "cflags": ["-Wall", "-Wextra", "-Werror", "-O2", "-g", "-fno-strict-aliasing"],
    "cflags_c": ["-std=c11", "-D_GNU_SOURCE"],
    "cflags_cc": ["-std=c++17"],
    "conditions": [
      ["sanitize=='1'", {
        "cflags": ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-fno-sanitize-recover=undefined"],
        "ldflags": ["-fsanitize=address,undefined"]
      }]
    ]
  },
  "targets": [
    {
      "target_name": "udp-pingpong",
      "type": "executable",
      "sources": ["../bench/baselines/udp_pingpong.c"]
    },
    {
      "target_name": "xsk_redirect_bpf",
      "type": "none",
      "actions": [{
        "action_name": "clang_bpf",
        "inputs": ["bpf/xsk_redirect.bpf.c"],
        "outputs": ["<(PRODUCT_DIR)/xsk_redirect.bpf.o"],
        "action": ["clang", "-O2", "-g", "-Wall", "-Werror", "-target", "bpf",
                   "-I/usr/include/<(triplet)", "-c", "<@(_inputs)", "-o", "<@(_outputs)"]
      }, {
        "action_name": "clang_bpf_sink",
        "inputs": ["../bench/scenarios/xdp_drop.bpf.c"],
        "outputs": ["<(PRODUCT_DIR)/xdp_drop.bpf.o"],
        "action": ["clang", "-O2", "-g", "-Wall", "-Werror", "-target", "bpf",
                   "-I/usr/include/<(triplet)", "-c", "<@(_inputs)", "-o", "<@(_outputs)"]
      }]
    },
    {
      "target_name": "banana_dataplane",
      "dependencies": ["xsk_redirect_bpf"],
      "sources": [
        "src/binding.cc",
        "src/rdma_binding.cc",
        "src/bn.c",
        "src/engine.c",
        "src/worker.c",
        "src/l2switch.c",
        "src/fdb.c",
        "src/pool.c",
        "src/events.c",
        "src/afxdp_port.c",
        "src/afxdp_socket.c",
        "src/xdp_prog.c",
        "src/netns.c",
        "src/wire_udp.c",
        "src/announce.c",
        "src/rdma_qp.c"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=9", "NODE_ADDON_API_DISABLE_DEPRECATED", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "libraries": ["-lbpf", "-libverbs", "-lpthread"]
    }
  ]
}
