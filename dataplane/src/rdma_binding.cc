// The rdma carrier's side of the binding: endpoints cross the controllers' channel as JSON,
// so the 64-bit credit address travels as a decimal string and GIDs as IPv6 text.
#include "rdma_binding.h"

#include <arpa/inet.h>
#include <cstdio>
#include <cstring>
#include <string>

namespace banana {

namespace {

std::string GidText(const uint8_t *gid)
{
	char buf[INET6_ADDRSTRLEN];
	inet_ntop(AF_INET6, gid, buf, sizeof(buf));
	return buf;
}

uint32_t Need(Napi::Env env, const Napi::Object &o, const char *key)
{
	Napi::Value v = o.Get(key);
	if (!v.IsNumber())
		throw Napi::TypeError::New(env, std::string("RDMA endpoint: ") + key + " must be a number");
	return v.As<Napi::Number>().Uint32Value();
}

}  // namespace

Napi::Value RdmaDevices(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	bn_rdma_device_info devs[BN_RDMA_MAX_DEVICES];
	uint32_t n = 0;
	bn_error e;
	if (bn_rdma__devices(devs, BN_RDMA_MAX_DEVICES, &n, &e) < 0)
		throw MakeError(env, e);
	Napi::Array out = Napi::Array::New(env, n);
	for (uint32_t d = 0; d < n; d++) {
		const bn_rdma_device_info &di = devs[d];
		Napi::Object o = Napi::Object::New(env);
		o.Set("name", di.name);
		char guid[24];
		snprintf(guid, sizeof(guid), "%016llx", (unsigned long long)di.node_guid);
		o.Set("nodeGuid", guid);
		o.Set("maxQpWr", di.max_qp_wr);
		o.Set("maxSge", di.max_sge);
		o.Set("maxCqe", di.max_cqe);
		o.Set("maxInline", di.max_inline);
		Napi::Array ports = Napi::Array::New(env, di.n_ports);
		for (uint32_t p = 0; p < di.n_ports; p++) {
			const bn_rdma_port_info &pi = di.ports[p];
			Napi::Object po = Napi::Object::New(env);
			po.Set("num", pi.num);
			po.Set("active", pi.state == 4 /* IBV_PORT_ACTIVE */);
			po.Set("activeMtu", pi.active_mtu);
			po.Set("linkLayer", pi.link_layer == 2 ? "ethernet" : "infiniband");
			Napi::Array gids = Napi::Array::New(env, pi.n_gids);
			for (uint32_t g = 0; g < pi.n_gids; g++) {
				Napi::Object go = Napi::Object::New(env);
				go.Set("index", pi.gids[g].index);
				go.Set("gid", GidText(pi.gids[g].gid));
				go.Set("type", pi.gids[g].type ? "RoCEv2" : pi.link_layer == 2 ? "RoCEv1" : "IB");
				gids.Set(g, go);
			}
			po.Set("gids", gids);
			ports.Set(p, po);
		}
		o.Set("ports", ports);
		out.Set(d, o);
	}
	return out;
}

bn_rdma_config RdmaConfigFromJs(Napi::Env env, const Napi::Object &s)
{
	bn_rdma_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	Napi::Value dev = s.Get("device");
	if (!dev.IsString())
		throw Napi::TypeError::New(env, "addRdmaPort: device (an RDMA device name) is required");
	snprintf(cfg.device, sizeof(cfg.device), "%s", dev.As<Napi::String>().Utf8Value().c_str());
	Napi::Value v;
	cfg.port_num = (v = s.Get("portNum")).IsNumber() ? v.As<Napi::Number>().Uint32Value() : 1;
	cfg.gid_index = (v = s.Get("gidIndex")).IsNumber() ? v.As<Napi::Number>().Int32Value() : -1;
	cfg.rq_depth = (v = s.Get("rqDepth")).IsNumber() ? v.As<Napi::Number>().Uint32Value() : 512;
	cfg.sq_depth = (v = s.Get("sqDepth")).IsNumber() ? v.As<Napi::Number>().Uint32Value() : 512;
	return cfg;
}

Napi::Object EndpointToJs(Napi::Env env, const bn_rdma_endpoint &ep)
{
	Napi::Object o = Napi::Object::New(env);
	o.Set("qpn", ep.qpn);
	o.Set("psn", ep.psn);
	o.Set("gid", GidText(ep.gid));
	o.Set("gidIndex", ep.gid_index);
	o.Set("lid", ep.lid);
	o.Set("creditAddr", std::to_string(ep.credit_addr));
	o.Set("creditRkey", ep.credit_rkey);
	o.Set("mtu", ep.mtu);
	o.Set("maxMsg", ep.max_msg);
	return o;
}

bn_rdma_endpoint EndpointFromJs(Napi::Env env, const Napi::Object &o)
{
	bn_rdma_endpoint ep;
	memset(&ep, 0, sizeof(ep));
	ep.qpn = Need(env, o, "qpn");
	ep.psn = Need(env, o, "psn");
	ep.lid = Need(env, o, "lid");
	ep.credit_rkey = Need(env, o, "creditRkey");
	ep.mtu = Need(env, o, "mtu");
	ep.max_msg = Need(env, o, "maxMsg");
	Napi::Value gid = o.Get("gid"), addr = o.Get("creditAddr");
	if (!gid.IsString() || inet_pton(AF_INET6, gid.As<Napi::String>().Utf8Value().c_str(), ep.gid) != 1)
		throw Napi::TypeError::New(env, "RDMA endpoint: gid must be an IPv6-form GID");
	std::string a = addr.IsString() ? addr.As<Napi::String>().Utf8Value() : "";
	char *end = nullptr;
	ep.credit_addr = strtoull(a.c_str(), &end, 10);
	if (a.empty() || *end)
		throw Napi::TypeError::New(env, "RDMA endpoint: creditAddr must be a decimal string, got '" + a + "'");
	return ep;
}

}  // namespace banana
