{
  "targets": [
    {
      "target_name": "grantwire_native",
      "sources": ["native/grantwire.cc"],
      "cflags_cc": ["-O2", "-std=c++17", "-fno-exceptions"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
