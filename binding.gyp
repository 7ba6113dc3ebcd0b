{
  # The AF_PACKET addon (native/): built by `npm ci` through node-gyp (package.json "gypfile").
  "targets": [
    {
      "target_name": "tollgate_af_packet",
      "sources": ["native/packet-socket.cc", "native/port.cc", "native/recvmmsg-reference.cc"],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra"],
      "conditions": [["OS!='linux'", {"type": "none"}]]
    }
  ]
}
