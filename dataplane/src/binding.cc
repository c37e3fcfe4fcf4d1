// Thin node-addon-api binding: converts JS arguments to plain C structs on the JS thread,
// calls the engine, and converts results back. Worker threads never touch napi; events
// reach JS through a pump thread and a ThreadSafeFunction.
#include <napi.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <arpa/inet.h>
#include <poll.h>
#include <string>
#include <sys/eventfd.h>
#include <thread>
#include <vector>
#include <unistd.h>
#include <vector>

extern "C" {
#include "counters.h"
#include "announce.h"
#include "engine.h"
}
#include "rdma_binding.h"

namespace banana {

Napi::Error MakeError(Napi::Env env, const bn_error &e)
{
	Napi::Error err = Napi::Error::New(env, e.msg);
	const char *name = strerrorname_np(e.err);
	err.Set("code", Napi::String::New(env, name ? name : "EUNKNOWN"));
	err.Set("errno", Napi::Number::New(env, e.err));
	err.Set("step", Napi::String::New(env, e.step));
	return err;
}

}  // namespace banana

namespace {

using banana::MakeError;

uint32_t OptU32(const Napi::Object &o, const char *key, uint32_t def)
{
	Napi::Value v = o.Get(key);
	return v.IsNumber() ? v.As<Napi::Number>().Uint32Value() : def;
}

int32_t OptI32(const Napi::Object &o, const char *key, int32_t def)
{
	Napi::Value v = o.Get(key);
	return v.IsNumber() ? v.As<Napi::Number>().Int32Value() : def;
}

std::string OptStr(const Napi::Object &o, const char *key)
{
	Napi::Value v = o.Get(key);
	return v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string();
}

void CopyStr(char *dst, size_t cap, const std::string &s)
{
	snprintf(dst, cap, "%s", s.c_str());
}

std::string MacString(const uint8_t *m)
{
	char buf[18];
	snprintf(buf, sizeof(buf), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
	return buf;
}

class EngineWrap : public Napi::ObjectWrap<EngineWrap> {
public:
	static Napi::Function Define(Napi::Env env)
	{
		return DefineClass(env, "NativeEngine", {
			InstanceMethod("addPort", &EngineWrap::AddPort),
			InstanceMethod("removePort", &EngineWrap::RemovePort),
			InstanceMethod("addUdpWire", &EngineWrap::AddUdpWire),
			InstanceMethod("addRdmaPort", &EngineWrap::AddRdmaPort),
			InstanceMethod("connectRdmaPort", &EngineWrap::ConnectRdmaPort),
			InstanceMethod("prepareWireSwap", &EngineWrap::PrepareWireSwap),
			InstanceMethod("cutoverWire", &EngineWrap::CutoverWire),
			InstanceMethod("finishWireSwap", &EngineWrap::FinishWireSwap),
			InstanceMethod("switchWire", &EngineWrap::SwitchWire),
			InstanceMethod("wireInfo", &EngineWrap::WireInfo),
			InstanceMethod("probeWire", &EngineWrap::ProbeWire),
			InstanceMethod("wireProbe", &EngineWrap::WireProbe),
			InstanceMethod("quiesceWire", &EngineWrap::QuiesceWire),
			InstanceMethod("setReceiveOnly", &EngineWrap::SetReceiveOnly),
			InstanceMethod("learnMac", &EngineWrap::LearnMac),
			InstanceMethod("start", &EngineWrap::Start),
			InstanceMethod("stop", &EngineWrap::Stop),
			InstanceMethod("close", &EngineWrap::Close),
			InstanceMethod("audit", &EngineWrap::Audit),
			InstanceMethod("fdb", &EngineWrap::Fdb),
			InstanceMethod("flushFdb", &EngineWrap::FlushFdb),
			InstanceMethod("setDomain", &EngineWrap::SetDomain),
			InstanceAccessor("portCounters", &EngineWrap::PortCounters, nullptr),
			InstanceAccessor("workerCounters", &EngineWrap::WorkerCounters, nullptr),
		});
	}

	explicit EngineWrap(const Napi::CallbackInfo &info) : Napi::ObjectWrap<EngineWrap>(info)
	{
		Napi::Env env = info.Env();
		if (info.Length() < 1 || !info[0].IsObject())
			throw Napi::TypeError::New(env, "NativeEngine(settings): settings object required");
		Napi::Object s = info[0].As<Napi::Object>();
		bn_engine_config cfg;
		memset(&cfg, 0, sizeof(cfg));
		cfg.n_workers = OptU32(s, "workers", 1);
		if (cfg.n_workers == 0 || cfg.n_workers > BN_MAX_WORKERS)
			throw Napi::RangeError::New(env, "workers must be between 1 and " + std::to_string(BN_MAX_WORKERS));
		Napi::Value cpus = s.Get("cpus");
		for (uint32_t i = 0; i < BN_MAX_WORKERS; i++)
			cfg.cpus[i] = -1;
		if (cpus.IsArray()) {
			Napi::Array a = cpus.As<Napi::Array>();
			for (uint32_t i = 0; i < a.Length() && i < cfg.n_workers; i++)
				cfg.cpus[i] = a.Get(i).As<Napi::Number>().Int32Value();
		}
		cfg.idle = OptStr(s, "idle") == "backoff" ? BN_IDLE_BACKOFF : BN_IDLE_BUSY;
		cfg.spin_loops = OptU32(s, "spinLoops", 1000);
		cfg.max_sleep_us = OptU32(s, "maxSleepUs", 1000);
		cfg.frames_per_worker = OptU32(s, "framesPerWorker", 16384);
		cfg.frame_size = OptU32(s, "frameSize", 4096);
		cfg.fdb_size = OptU32(s, "fdbSize", 4096);
		cfg.fdb_ageing_ns = (uint64_t)OptU32(s, "fdbAgeingMs", 300000) * 1000000ULL;
		cfg.handoff_slots = OptU32(s, "handoffSlots", 2048);
		CopyStr(cfg.bpf_obj_path, sizeof(cfg.bpf_obj_path), OptStr(s, "bpfObjectPath"));

		size_t port_words = (size_t)BN_MAX_PORTS * cfg.n_workers * BN_PORT_ROW;
		size_t worker_words = (size_t)cfg.n_workers * BN_WORKER_ROW;
		Napi::ArrayBuffer pc = Napi::ArrayBuffer::New(env, port_words * sizeof(uint64_t));
		Napi::ArrayBuffer wc = Napi::ArrayBuffer::New(env, worker_words * sizeof(uint64_t));
		memset(pc.Data(), 0, pc.ByteLength());
		memset(wc.Data(), 0, wc.ByteLength());
		portCounters_ = Napi::Persistent(pc);
		workerCounters_ = Napi::Persistent(wc);
		cfg.port_counters = static_cast<uint64_t *>(pc.Data());
		cfg.worker_counters = static_cast<uint64_t *>(wc.Data());
		nWorkers_ = cfg.n_workers;

		bn_error e;
		if (bn_engine__create(&eng_, &cfg, &e) < 0)
			throw MakeError(env, e);

		Napi::Value cb = s.Get("onEvent");
		if (cb.IsFunction())
			StartPump(env, cb.As<Napi::Function>());
	}

	~EngineWrap() override { Shutdown(); }

private:
	bn_engine *eng_ = nullptr;
	uint32_t nWorkers_ = 0;
	Napi::Reference<Napi::ArrayBuffer> portCounters_, workerCounters_;
	Napi::ThreadSafeFunction tsfn_;
	std::thread pump_;
	int pumpStopFd_ = -1;

	void StartPump(Napi::Env env, Napi::Function cb)
	{
		tsfn_ = Napi::ThreadSafeFunction::New(env, cb, "banana-events", 0, 1);
		tsfn_.Unref(env);   // an engine nobody closed must not keep the process alive
		pumpStopFd_ = eventfd(0, EFD_CLOEXEC);
		int evfd = eng_->event_fd;
		bn_engine *eng = eng_;
		int stopfd = pumpStopFd_;
		Napi::ThreadSafeFunction tsfn = tsfn_;
		pump_ = std::thread([eng, evfd, stopfd, tsfn]() mutable {
			pollfd fds[2] = {{evfd, POLLIN, 0}, {stopfd, POLLIN, 0}};
			for (;;) {
				if (poll(fds, 2, -1) < 0 && errno != EINTR)
					break;
				if (fds[1].revents)
					break;
				uint64_t n;
				if (fds[0].revents && read(evfd, &n, sizeof(n)) < 0)
					continue;
				bn_event ev;
				while (bn_engine__next_event(eng, &ev)) {
					bn_event *copy = new bn_event(ev);
					napi_status st = tsfn.BlockingCall(copy, [](Napi::Env env, Napi::Function fn, bn_event *e) {
						Napi::Object o = Napi::Object::New(env);
						o.Set("type", Napi::String::New(env, e->type == BN_EV_QUEUE_FAILED ? "queue-failed" : "unknown"));
						o.Set("portId", Napi::Number::New(env, e->port));
						o.Set("queue", Napi::Number::New(env, e->queue));
						o.Set("worker", Napi::Number::New(env, e->worker));
						o.Set("errno", Napi::Number::New(env, e->err));
						const char *name = strerrorname_np(e->err);
						o.Set("code", Napi::String::New(env, name ? name : "EUNKNOWN"));
						o.Set("message", Napi::String::New(env, strerror(e->err)));
						delete e;
						fn.Call({o});
					});
					if (st != napi_ok)
						delete copy;
				}
			}
		});
	}

	void Shutdown()
	{
		if (pump_.joinable()) {
			uint64_t one = 1;
			if (write(pumpStopFd_, &one, sizeof(one)) < 0) { /* the pump also stops with the engine */ }
			pump_.join();
			tsfn_.Release();
		}
		if (pumpStopFd_ >= 0)
			close(pumpStopFd_);
		pumpStopFd_ = -1;
		if (eng_)
			bn_engine__destroy(eng_);
		eng_ = nullptr;
	}

	bn_engine *Live(Napi::Env env)
	{
		if (!eng_) {
			Napi::Error err = Napi::Error::New(env, "engine is closed");
			err.Set("code", Napi::String::New(env, "ECLOSED"));
			throw err;
		}
		return eng_;
	}

	Napi::Value AddPort(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		bn_engine *eng = Live(env);
		if (info.Length() < 1 || !info[0].IsObject())
			throw Napi::TypeError::New(env, "addPort(settings): settings object required");
		Napi::Object s = info[0].As<Napi::Object>();
		bn_port_config cfg;
		memset(&cfg, 0, sizeof(cfg));
		std::string ifname = OptStr(s, "ifname");
		if (ifname.empty() || ifname.size() >= 16)
			throw Napi::TypeError::New(env, "addPort: ifname must be 1-15 characters, got '" + ifname + "'");
		CopyStr(cfg.ifname, sizeof(cfg.ifname), ifname);
		CopyStr(cfg.netns, sizeof(cfg.netns), OptStr(s, "netns"));
		cfg.first_queue = OptU32(s, "firstQueue", 0);
		cfg.n_queues = OptU32(s, "queues", 1);
		cfg.mode = static_cast<bn_xdp_mode>(OptU32(s, "mode", BN_XDP_AUTO));
		cfg.zero_copy = OptI32(s, "zeroCopy", -1);
		cfg.ring_size = OptU32(s, "ringSize", 2048);
		cfg.busy_poll_budget = OptU32(s, "busyPollBudget", 0);
		cfg.busy_poll_usecs = OptU32(s, "busyPollUsecs", 20);
		cfg.underlay_udp_port = htons((uint16_t)OptU32(s, "underlayUdpPort", 0));
		cfg.xdp_takeover = OptU32(s, "xdpTakeover", 0) != 0;
		cfg.domain = (uint16_t)OptU32(s, "domain", 0);
		bn_port_info pi;
		bn_error e;
		if (bn_engine__add_port(eng, &cfg, &pi, &e) < 0)
			throw MakeError(env, e);
		Napi::Object o = Napi::Object::New(env);
		o.Set("id", Napi::Number::New(env, pi.id));
		o.Set("ifindex", Napi::Number::New(env, pi.ifindex));
		o.Set("mode", Napi::String::New(env, bn_xdp_mode_name(pi.mode)));
		o.Set("zeroCopy", Napi::Boolean::New(env, pi.zero_copy != 0));
		Napi::Array qs = Napi::Array::New(env, pi.n_queues);
		for (uint32_t i = 0; i < pi.n_queues; i++) {
			Napi::Object q = Napi::Object::New(env);
			q.Set("queue", Napi::Number::New(env, pi.queue_ids[i]));
			q.Set("worker", Napi::Number::New(env, pi.workers[i]));
			qs.Set(i, q);
		}
		o.Set("queues", qs);
		return o;
	}

	static void ParseMac(Napi::Env env, const std::string &text, uint8_t *out, const char *what)
	{
		unsigned b[6];
		if (sscanf(text.c_str(), "%2x:%2x:%2x:%2x:%2x:%2x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6)
			throw Napi::TypeError::New(env, std::string(what) + ": not a MAC address: '" + text + "'");
		for (int i = 0; i < 6; i++)
			out[i] = (uint8_t)b[i];
	}

	static uint32_t ParseIp(Napi::Env env, const std::string &text, const char *what)
	{
		in_addr a;
		if (inet_pton(AF_INET, text.c_str(), &a) != 1)
			throw Napi::TypeError::New(env, std::string(what) + ": not an IPv4 address: '" + text + "'");
		return a.s_addr;
	}

	bn_udp_wire_config WireConfig(Napi::Env env, const Napi::Object &s)
	{
		bn_udp_wire_config cfg;
		memset(&cfg, 0, sizeof(cfg));
		cfg.wire_id = OptU32(s, "wireId", 0);
		cfg.underlay_port = OptU32(s, "underlayPortId", 0);
		ParseMac(env, OptStr(s, "localMac"), cfg.local_mac, "localMac");
		ParseMac(env, OptStr(s, "nextHopMac"), cfg.next_hop_mac, "nextHopMac");
		cfg.local_ip = ParseIp(env, OptStr(s, "localIp"), "localIp");
		cfg.remote_ip = ParseIp(env, OptStr(s, "remoteIp"), "remoteIp");
		cfg.local_port = htons((uint16_t)OptU32(s, "localPort", 0));
		cfg.remote_port = htons((uint16_t)OptU32(s, "remotePort", 0));
		cfg.underlay_mtu = OptU32(s, "underlayMtu", 1500);
		cfg.keepalive_ms = OptU32(s, "keepaliveMs", 100);
		cfg.domain = (uint16_t)OptU32(s, "domain", 0);
		return cfg;
	}

	Napi::Value AddUdpWire(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		bn_engine *eng = Live(env);
		if (info.Length() < 1 || !info[0].IsObject())
			throw Napi::TypeError::New(env, "addUdpWire(settings): settings object required");
		bn_udp_wire_config cfg = WireConfig(env, info[0].As<Napi::Object>());
		uint32_t id = 0, max_inner = 0;
		bn_error e;
		if (bn_engine__add_udp_wire(eng, &cfg, &id, &max_inner, &e) < 0)
			throw MakeError(env, e);
		Napi::Object o = Napi::Object::New(env);
		o.Set("id", Napi::Number::New(env, id));
		o.Set("maxInnerFrame", Napi::Number::New(env, max_inner));
		return o;
	}

	Napi::Value AddRdmaPort(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		bn_engine *eng = Live(env);
		if (info.Length() < 1 || !info[0].IsObject())
			throw Napi::TypeError::New(env, "addRdmaPort(settings): settings object required");
		bn_rdma_config cfg = banana::RdmaConfigFromJs(env, info[0].As<Napi::Object>());
		bn_rdma_endpoint local;
		uint32_t id = 0, worker = 0;
		bn_error e;
		if (bn_engine__add_rdma_port(eng, &cfg, &local, &id, &worker, &e) < 0)
			throw MakeError(env, e);
		Napi::Object o = Napi::Object::New(env);
		o.Set("id", id);
		o.Set("worker", worker);
		o.Set("endpoint", banana::EndpointToJs(env, local));
		return o;
	}

	Napi::Value ConnectRdmaPort(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		bn_engine *eng = Live(env);
		if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsObject())
			throw Napi::TypeError::New(env, "connectRdmaPort(portId, peerEndpoint, waitForPeer)");
		bn_rdma_endpoint remote = banana::EndpointFromJs(env, info[1].As<Napi::Object>());
		int wait_for_peer = info.Length() > 2 && info[2].ToBoolean().Value();
		uint32_t max_msg = 0;
		bn_error e;
		if (bn_engine__rdma_connect(eng, info[0].As<Napi::Number>().Uint32Value(), &remote, wait_for_peer, &max_msg, &e) < 0)
			throw MakeError(env, e);
		return Napi::Number::New(env, max_msg);
	}

	/* An engine call on one port or wire (its id in info[0]) that only succeeds or fails. */
	template <typename Fn> Napi::Value PortOp(const Napi::CallbackInfo &info, Fn fn)
	{
		Napi::Env env = info.Env();
		bn_engine *eng = Live(env);
		bn_error e;
		if (fn(eng, info[0].As<Napi::Number>().Uint32Value(), &e) < 0)
			throw MakeError(env, e);
		return env.Undefined();
	}

	Napi::Value PrepareWireSwap(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		bn_engine *eng = Live(env);
		if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsObject())
			throw Napi::TypeError::New(env, "prepareWireSwap(portId, settings): port id and settings required");
		bn_udp_wire_config cfg = WireConfig(env, info[1].As<Napi::Object>());
		uint32_t max_inner = 0;
		bn_error e;
		if (bn_engine__wire_prepare(eng, info[0].As<Napi::Number>().Uint32Value(), &cfg, &max_inner, &e) < 0)
			throw MakeError(env, e);
		return Napi::Number::New(env, max_inner);
	}

	Napi::Value CutoverWire(const Napi::CallbackInfo &info) { return PortOp(info, bn_engine__wire_cutover); }

	Napi::Value SwitchWire(const Napi::CallbackInfo &info) { return PortOp(info, bn_engine__wire_switch); }

	Napi::Value FinishWireSwap(const Napi::CallbackInfo &info) { return PortOp(info, bn_engine__wire_finish); }

	Napi::Value QuiesceWire(const Napi::CallbackInfo &info)
	{
		int on = info[1].ToBoolean().Value() ? 1 : 0;
		return PortOp(info, [on](bn_engine *eng, uint32_t id, bn_error *e) { return bn_engine__wire_quiesce(eng, id, on, e); });
	}

	Napi::Value ProbeWire(const Napi::CallbackInfo &info)
	{
		uint32_t count = info[1].As<Napi::Number>().Uint32Value();
		uint32_t bytes = info[2].As<Napi::Number>().Uint32Value();
		return PortOp(info, [count, bytes](bn_engine *eng, uint32_t id, bn_error *e) {
			return bn_engine__wire_probe(eng, id, count, bytes, e);
		});
	}

	Napi::Value WireProbe(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		std::vector<uint32_t> rtt(BN_PROBE_MAX);
		bn_probe_state st;
		bn_error e;
		if (bn_engine__wire_probe_result(Live(env), info[0].As<Napi::Number>().Uint32Value(), rtt.data(), BN_PROBE_MAX, &st,
						 &e) < 0)
			throw MakeError(env, e);
		Napi::Object o = Napi::Object::New(env);
		o.Set("left", st.left);
		o.Set("lost", st.lost);
		Napi::Array ns = Napi::Array::New(env, st.n);
		for (uint32_t i = 0; i < st.n; i++)
			ns.Set(i, rtt[i]);
		o.Set("rttNs", ns);
		return o;
	}

	Napi::Value WireInfo(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		bn_wire_info wi;
		bn_error e;
		if (bn_engine__wire_info(Live(env), info[0].As<Napi::Number>().Uint32Value(), &wi, &e) < 0)
			throw MakeError(env, e);
		static const char *const phases[] = {"none", "prepared", "cut-over"};
		Napi::Object o = Napi::Object::New(env);
		o.Set("phase", phases[wi.phase < 3 ? wi.phase : 0]);
		o.Set("txPath", wi.tx_path);
		o.Set("rxPath", wi.rx_path);
		o.Set("held", wi.n_held);
		o.Set("quiesced", wi.quiesced != 0);
		o.Set("queued", wi.n_queued);
		Napi::Array paths = Napi::Array::New(env, 2);
		for (uint32_t k = 0; k < 2; k++) {
			Napi::Object p = Napi::Object::New(env);
			p.Set("used", wi.paths[k].used != 0);
			p.Set("wireId", wi.paths[k].wire_id);
			p.Set("maxInnerFrame", wi.paths[k].max_inner);
			p.Set("lastRxNs", Napi::BigInt::New(env, wi.paths[k].last_rx_ns));
			paths.Set(k, p);
		}
		o.Set("paths", paths);
		return o;
	}

	Napi::Value RemovePort(const Napi::CallbackInfo &info) { return PortOp(info, bn_engine__remove_port); }

	Napi::Value Start(const Napi::CallbackInfo &info)
	{
		bn_error e;
		if (bn_engine__start(Live(info.Env()), &e) < 0)
			throw MakeError(info.Env(), e);
		return info.Env().Undefined();
	}

	Napi::Value Stop(const Napi::CallbackInfo &info)
	{
		bn_engine__stop(Live(info.Env()));
		return info.Env().Undefined();
	}

	Napi::Value Close(const Napi::CallbackInfo &info)
	{
		Shutdown();
		return info.Env().Undefined();
	}

	Napi::Value Audit(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		bn_engine *eng = Live(env);
		std::vector<bn_frame_audit> audits(nWorkers_);
		bn_error e;
		if (bn_engine__audit(eng, audits.data(), &e) < 0)
			throw MakeError(env, e);
		Napi::Array out = Napi::Array::New(env, nWorkers_);
		static const char *const places[BN_IN__COUNT] = {"free", "fill", "rx", "tx", "completion", "returned", "held"};
		for (uint32_t w = 0; w < nWorkers_; w++) {
			Napi::Object o = Napi::Object::New(env);
			o.Set("total", audits[w].total);
			for (int p = 0; p < BN_IN__COUNT; p++)
				o.Set(places[p], audits[w].placed[p]);
			o.Set("missing", audits[w].missing);
			o.Set("kernelTx", audits[w].kernel_tx);
			o.Set("duplicated", audits[w].duplicated);
			o.Set("foreign", audits[w].foreign);
			out.Set(w, o);
		}
		return out;
	}

	Napi::Value Fdb(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		bn_engine *eng = Live(env);
		std::vector<bn_fdb_entry> entries(eng->cfg.fdb_size);
		uint32_t n = bn_engine__fdb_dump(eng, entries.data(), (uint32_t)entries.size());
		Napi::Array out = Napi::Array::New(env, n);
		for (uint32_t i = 0; i < n; i++) {
			Napi::Object o = Napi::Object::New(env);
			o.Set("mac", MacString(entries[i].mac));
			o.Set("portId", entries[i].port);
			o.Set("domain", entries[i].domain);
			o.Set("ageMs", (double)entries[i].age_ns / 1e6);
			out.Set(i, o);
		}
		return out;
	}

	Napi::Value FlushFdb(const Napi::CallbackInfo &info)
	{
		bn_engine *eng = Live(info.Env());
		uint32_t port = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Uint32Value() : UINT32_MAX;
		bn_engine__fdb_flush(eng, port);
		return info.Env().Undefined();
	}

	Napi::Value SetDomain(const Napi::CallbackInfo &info)
	{
		uint32_t domain = info[1].As<Napi::Number>().Uint32Value();
		return PortOp(info, [domain](bn_engine *eng, uint32_t id, bn_error *e) { return bn_engine__set_domain(eng, id, domain, e); });
	}

	Napi::Value LearnMac(const Napi::CallbackInfo &info)
	{
		uint8_t mac[6];
		ParseMac(info.Env(), info[1].As<Napi::String>().Utf8Value(), mac, "mac");
		return PortOp(info, [&mac](bn_engine *eng, uint32_t id, bn_error *e) { return bn_engine__fdb_learn(eng, id, mac, e); });
	}

	Napi::Value SetReceiveOnly(const Napi::CallbackInfo &info)
	{
		int on = info[1].ToBoolean().Value() ? 1 : 0;
		return PortOp(info, [on](bn_engine *eng, uint32_t id, bn_error *e) { return bn_engine__set_receive_only(eng, id, on, e); });
	}

	Napi::Value PortCounters(const Napi::CallbackInfo &) { return portCounters_.Value(); }
	Napi::Value WorkerCounters(const Napi::CallbackInfo &) { return workerCounters_.Value(); }
};

/* announce(netns, ifname, mac, count): a RARP broadcast from mac on the interface. */
Napi::Value Announce(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	if (info.Length() < 4 || !info[0].IsString() || !info[1].IsString() || !info[2].IsString() || !info[3].IsNumber())
		throw Napi::TypeError::New(env, "announce(netns, ifname, mac, count)");
	unsigned b[6];
	std::string mac = info[2].As<Napi::String>().Utf8Value();
	if (sscanf(mac.c_str(), "%2x:%2x:%2x:%2x:%2x:%2x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6)
		throw Napi::TypeError::New(env, "announce: not a MAC address: '" + mac + "'");
	uint8_t m[6];
	for (int i = 0; i < 6; i++)
		m[i] = (uint8_t)b[i];
	bn_error e;
	if (bn_announce(info[0].As<Napi::String>().Utf8Value().c_str(), info[1].As<Napi::String>().Utf8Value().c_str(), m,
			info[3].As<Napi::Number>().Uint32Value(), &e) < 0)
		throw MakeError(env, e);
	return env.Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports)
{
	exports.Set("announce", Napi::Function::New(env, Announce));
	exports.Set("rdmaDevices", Napi::Function::New(env, banana::RdmaDevices));
	exports.Set("NativeEngine", EngineWrap::Define(env));
	Napi::Array pc = Napi::Array::New(env, BN_PC__COUNT);
	for (uint32_t i = 0; i < BN_PC__COUNT; i++)
		pc.Set(i, bn_port_counter_names[i]);
	Napi::Array wc = Napi::Array::New(env, BN_WC__COUNT);
	for (uint32_t i = 0; i < BN_WC__COUNT; i++)
		wc.Set(i, bn_worker_counter_names[i]);
	exports.Set("portCounterNames", pc);
	exports.Set("workerCounterNames", wc);
	Napi::Object limits = Napi::Object::New(env);
	limits.Set("maxPorts", BN_MAX_PORTS);
	limits.Set("maxWorkers", BN_MAX_WORKERS);
	limits.Set("burst", BN_BURST);
	limits.Set("portRow", BN_PORT_ROW);
	limits.Set("workerRow", BN_WORKER_ROW);
	exports.Set("limits", limits);
	return exports;
}

}  // namespace

NODE_API_MODULE(banana_dataplane, Init)
