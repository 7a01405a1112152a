{
  "targets": [
    {
      "target_name": "grantwire_native",
      "sources": [
        "native/grantwire.cc",
        "native/tun.cc",
        "native/netlink.cc",
        "native/udp.cc",
        "native/reader.cc",
        "native/peercred.cc",
        "native/tun-writer.cc",
        "native/aead.cc",
        "native/aead-batch.cc",
        "native/offload.cc",
        "native/offload-napi.cc"
      ],
      "cflags_cc": ["-O2", "-std=c++17", "-fno-exceptions", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"]
    }
  ]
}
