// Conversions between JS objects and the rdma carrier's C structs, and device discovery.
#ifndef BANANA_RDMA_BINDING_H
#define BANANA_RDMA_BINDING_H
#include <napi.h>

extern "C" {
#include "rdma_qp.h"
}

namespace banana {

Napi::Error MakeError(Napi::Env env, const bn_error &e);
/* rdmaDevices(): every RDMA device this process can open, with ports and GIDs. */
Napi::Value RdmaDevices(const Napi::CallbackInfo &info);
bn_rdma_config RdmaConfigFromJs(Napi::Env env, const Napi::Object &s);
Napi::Object EndpointToJs(Napi::Env env, const bn_rdma_endpoint &ep);
bn_rdma_endpoint EndpointFromJs(Napi::Env env, const Napi::Object &o);

}  // namespace banana

#endif
