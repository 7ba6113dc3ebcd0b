// N-API face of PacketSocket: readiness through uv_poll on the calling thread's event loop, one
// JS call per batch of frames copied into buffers shared with JS (DESIGN: Threads and isolation).
#include <napi.h>
#include <uv.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "packet-socket.h"

namespace tollgate {

Napi::Value BenchRecvmmsg(const Napi::CallbackInfo& info);  // recvmmsg-reference.cc

// Throws the JS form of a failed call: message with errno text, plus code/errno/syscall.
[[noreturn]] void ThrowSysError(Napi::Env env, const std::string& ifname, const SysError& e) {
  Napi::Error err = Napi::Error::New(env, ifname + ": " + e.what());
  err.Set("code", Napi::String::New(env, uv_err_name(-e.err)));
  err.Set("errno", Napi::Number::New(env, e.err));
  err.Set("syscall", Napi::String::New(env, e.syscall));
  throw err;
}

namespace {

uint32_t OptUint(const Napi::Object& o, const char* key, uint32_t dflt, uint32_t lo, uint32_t hi) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return dflt;
  if (!v.IsNumber()) throw Napi::TypeError::New(o.Env(), std::string(key) + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= lo && d <= hi) || d != static_cast<double>(static_cast<uint32_t>(d))) {
    throw Napi::RangeError::New(o.Env(), std::string(key) + " must be an integer in [" + std::to_string(lo) + ", " +
                                             std::to_string(hi) + "]");
  }
  return static_cast<uint32_t>(d);
}

bool OptBool(const Napi::Object& o, const char* key, bool dflt) {
  Napi::Value v = o.Get(key);
  return v.IsUndefined() ? dflt : v.ToBoolean().Value();
}

// Bytes of a Uint8Array/Buffer/ArrayBuffer argument.
std::pair<uint8_t*, size_t> BytesOf(Napi::Env env, Napi::Value v, const char* what) {
  if (v.IsTypedArray()) {
    auto ta = v.As<Napi::TypedArray>();
    if (ta.TypedArrayType() != napi_uint8_array) throw Napi::TypeError::New(env, std::string(what) + " must be a Uint8Array");
    auto u8 = v.As<Napi::Uint8Array>();
    return {u8.Data(), u8.ByteLength()};
  }
  if (v.IsArrayBuffer()) {
    auto ab = v.As<Napi::ArrayBuffer>();
    return {static_cast<uint8_t*>(ab.Data()), ab.ByteLength()};
  }
  throw Napi::TypeError::New(env, std::string(what) + " must be a Uint8Array or ArrayBuffer");
}

Napi::Uint32Array Uint32ArrayArg(Napi::Env env, Napi::Value v, const char* what) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array) {
    throw Napi::TypeError::New(env, std::string(what) + " must be a Uint32Array");
  }
  return v.As<Napi::Uint32Array>();
}

}  // namespace

class Port : public Napi::ObjectWrap<Port> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "AfPacketSocket",
                       {InstanceMethod<&Port::Start>("start"), InstanceMethod<&Port::Stop>("stop"),
                        InstanceMethod<&Port::Send>("send"), InstanceMethod<&Port::SendList>("sendList"),
                        InstanceMethod<&Port::Stats>("stats"), InstanceMethod<&Port::Info>("info"),
                        InstanceMethod<&Port::Buffers>("buffers"), InstanceMethod<&Port::RefHandle>("ref"),
                        InstanceMethod<&Port::UnrefHandle>("unref"), InstanceMethod<&Port::Close>("close")});
  }

  explicit Port(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Port>(info) {
    Napi::Env env = info.Env();
    if (!info[0].IsString()) throw Napi::TypeError::New(env, "interface name must be a string");
    Napi::Object o = info[1].IsObject() ? info[1].As<Napi::Object>() : Napi::Object::New(env);
    OpenOptions opts;
    opts.ifname = info[0].As<Napi::String>().Utf8Value();
    Napi::Value ns = o.Get("netns");
    if (!ns.IsUndefined()) {
      if (!ns.IsString()) throw Napi::TypeError::New(env, "netns must be a string");
      opts.netns = ns.As<Napi::String>().Utf8Value();
    }
    opts.promiscuous = OptBool(o, "promiscuous", false);
    opts.ignoreOutgoing = OptBool(o, "ignoreOutgoing", true);
    opts.qdiscBypass = OptBool(o, "qdiscBypass", false);
    opts.txRing = OptBool(o, "txRing", opts.txRing);
    opts.blockSize = OptUint(o, "blockSize", opts.blockSize, 4096, 1u << 24);
    opts.blockCount = OptUint(o, "blockCount", opts.blockCount, 1, 4096);
    opts.blockTimeoutMs = OptUint(o, "blockTimeoutMs", opts.blockTimeoutMs, 1, 1000);
    opts.txFrameSize = OptUint(o, "txFrameSize", opts.txFrameSize, 128, 1u << 16);
    opts.txFrameCount = OptUint(o, "txFrameCount", opts.txFrameCount, 1, 1u << 20);
    maxBatch_ = OptUint(o, "maxBatch", 256, 1, 65536);
    batchesPerWake_ = OptUint(o, "batchesPerWake", 4, 1, 1024);
    ifname_ = opts.ifname;
    try {
      sock_ = std::make_unique<PacketSocket>(opts);
    } catch (const SysError& e) {
      ThrowSysError(env, ifname_, e);
    }
    const size_t capacity = std::max(sock_->minBatchCapacity(), static_cast<size_t>(maxBatch_) * 2048);
    auto data = Napi::ArrayBuffer::New(env, capacity);
    auto offsets = Napi::Uint32Array::New(env, maxBatch_);
    auto lengths = Napi::Uint32Array::New(env, maxBatch_);
    auto flags = Napi::Uint8Array::New(env, maxBatch_);
    data_ = Napi::Persistent(data);
    offsets_ = Napi::Persistent(offsets);
    lengths_ = Napi::Persistent(lengths);
    flags_ = Napi::Persistent(flags);
    out_ = BatchOut{static_cast<uint8_t*>(data.Data()), capacity, offsets.Data(), lengths.Data(), flags.Data(), maxBatch_};
    napi_add_env_cleanup_hook(env, &Port::OnEnvCleanup, this);
  }

  ~Port() override { Shutdown(true, false); }

 private:
  static void OnEnvCleanup(void* arg) { static_cast<Port*>(arg)->Shutdown(false, true); }

  static void OnPoll(uv_poll_t* handle, int status, int /*events*/) {
    static_cast<Port*>(handle->data)->HandlePoll(status);
  }

  // start(onBatch(count), onError(err)): begins (or resumes) reading; replaces earlier callbacks.
  Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    EnsureOpen(env);
    if (!info[0].IsFunction() || !info[1].IsFunction()) throw Napi::TypeError::New(env, "start(onBatch, onError)");
    onBatch_ = Napi::Persistent(info[0].As<Napi::Function>());
    onError_ = Napi::Persistent(info[1].As<Napi::Function>());
    if (asyncContext_ == nullptr) {
      napi_value name = Napi::String::New(env, "AfPacketPort");
      NAPI_THROW_IF_FAILED(env, napi_async_init(env, Value(), name, &asyncContext_), env.Undefined());
    }
    if (poll_ == nullptr) {
      poll_ = new uv_poll_t;
      uv_loop_t* loop = nullptr;
      NAPI_THROW_IF_FAILED(env, napi_get_uv_event_loop(env, &loop), env.Undefined());
      int rc = uv_poll_init_socket(loop, poll_, sock_->fd());
      if (rc != 0) {
        delete poll_;
        poll_ = nullptr;
        ThrowSysError(env, ifname_, SysError("uv_poll_init", -rc));
      }
      poll_->data = this;
      if (!handleRefd_) uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
    }
    StartPolling(env);
    return env.Undefined();
  }

  void StartPolling(Napi::Env env) {
    int rc = uv_poll_start(poll_, UV_READABLE, &Port::OnPoll);
    if (rc != 0) ThrowSysError(env, ifname_, SysError("uv_poll_start", -rc));
    if (!selfRefd_) {
      Ref();  // an open, reading port must not be collected just because JS dropped it
      selfRefd_ = true;
    }
  }

  Napi::Value Stop(const Napi::CallbackInfo& info) {
    if (poll_ != nullptr) uv_poll_stop(poll_);
    if (selfRefd_) {
      Unref();
      selfRefd_ = false;
    }
    return info.Env().Undefined();
  }

  void HandlePoll(int status) {
    if (closed_) return;
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    if (status < 0) {
      // libuv stopped the watcher on POLLERR. Clearing SO_ERROR (ENETDOWN when the link went
      // down) lets the socket carry on once the link is back, so keep polling after reporting.
      int err = sock_->TakeError();
      Napi::Error e = Napi::Error::New(env, ifname_ + ": " + SysError("poll", err != 0 ? err : -status).what());
      e.Set("code", Napi::String::New(env, uv_err_name(err != 0 ? -err : status)));
      e.Set("errno", Napi::Number::New(env, err != 0 ? err : -status));
      e.Set("syscall", Napi::String::New(env, "poll"));
      errors_++;
      Call(env, onError_, e.Value());  // a throwing handler must not stop the port for good
      if (closed_) return;
      if (err != 0) uv_poll_start(poll_, UV_READABLE, &Port::OnPoll);
      return;
    }
    for (uint32_t b = 0; b < batchesPerWake_; b++) {
      if (data_.Value().IsDetached()) {
        // JS transferred the batch buffer away: never write into it again, and stop polling
        // (the socket stays readable, so returning alone would spin).
        uv_poll_stop(poll_);
        Napi::Error e = Napi::Error::New(env, ifname_ + ": the batch buffer was detached; delivery stopped");
        e.Set("code", Napi::String::New(env, "ERR_BUFFER_DETACHED"));
        errors_++;
        Call(env, onError_, e.Value());
        return;
      }
      const uint32_t n = sock_->ReadBatch(out_);
      if (n == 0) return;
      received_ += n;
      batches_++;
      // Called with the port closed from inside: the ring is gone, stop here.
      if (!Call(env, onBatch_, Napi::Number::New(env, n)) || closed_) return;
    }
  }

  // Calls back into JS as a new top-level callback (microtasks run after it). An exception goes
  // to 'uncaughtException' like one thrown from any other I/O callback.
  bool Call(Napi::Env env, Napi::FunctionReference& fn, napi_value arg) {
    if (fn.IsEmpty()) return true;
    napi_value result;
    napi_status st = napi_make_callback(env, asyncContext_, Value(), fn.Value(), 1, &arg, &result);
    if (st == napi_ok) return true;
    napi_value err;
    if (napi_get_and_clear_last_exception(env, &err) == napi_ok) napi_fatal_exception(env, err);
    return false;
  }

  Napi::Value Send(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    EnsureOpen(env);
    auto [data, size] = BytesOf(env, info[0], "data");
    Napi::Uint32Array offsets = Uint32ArrayArg(env, info[1], "offsets");
    Napi::Uint32Array lengths = Uint32ArrayArg(env, info[2], "lengths");
    if (!info[3].IsNumber()) throw Napi::TypeError::New(env, "count must be a number");
    const double count = info[3].As<Napi::Number>().DoubleValue();
    if (!(count >= 0) || count > offsets.ElementLength() || count > lengths.ElementLength()) {
      throw Napi::RangeError::New(env, "count exceeds the offsets/lengths arrays");
    }
    const uint32_t n = static_cast<uint32_t>(count);
    iov_.resize(n);
    for (uint32_t i = 0; i < n; i++) {
      const uint64_t off = offsets[i];
      const uint64_t len = lengths[i];
      if (off + len > size) throw Napi::RangeError::New(env, "frame " + std::to_string(i) + " lies outside data");
      iov_[i] = iovec{data + off, static_cast<size_t>(len)};
    }
    return DoSend(env, n);
  }

  Napi::Value SendList(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    EnsureOpen(env);
    if (!info[0].IsArray()) throw Napi::TypeError::New(env, "frames must be an array of Uint8Array");
    Napi::Array frames = info[0].As<Napi::Array>();
    const uint32_t n = frames.Length();
    iov_.resize(n);
    for (uint32_t i = 0; i < n; i++) {
      auto [data, size] = BytesOf(env, frames.Get(i), "frame");
      iov_[i] = iovec{data, size};
    }
    return DoSend(env, n);
  }

  Napi::Value DoSend(Napi::Env env, uint32_t n) {
    SendResult r;
    try {
      r = sock_->Send(iov_.data(), n);
    } catch (const SysError& e) {
      ThrowSysError(env, ifname_, e);
    }
    sent_ += r.sent;
    sendFailed_ += r.failed;
    return Napi::Number::New(env, r.sent);
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!closed_) {
      try {
        kernel_ = sock_->Stats();
      } catch (const SysError& e) {
        ThrowSysError(env, ifname_, e);
      }
    }
    Napi::Object o = Napi::Object::New(env);
    o.Set("received", static_cast<double>(received_));
    o.Set("batches", static_cast<double>(batches_));
    o.Set("sent", static_cast<double>(sent_));
    o.Set("sendFailed", static_cast<double>(sendFailed_));
    o.Set("kernelPackets", static_cast<double>(kernel_.packets));
    o.Set("kernelDrops", static_cast<double>(kernel_.drops));
    o.Set("kernelFreezes", static_cast<double>(kernel_.freezes));
    o.Set("truncated", static_cast<double>(closed_ ? truncated_ : sock_->truncated()));
    o.Set("errors", static_cast<double>(errors_));
    return o;
  }

  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    EnsureOpen(env);
    Napi::Object o = Napi::Object::New(env);
    o.Set("ifname", ifname_);
    o.Set("ifindex", static_cast<double>(sock_->ifindex()));
    o.Set("mac", static_cast<double>(sock_->mac()));
    o.Set("mtu", static_cast<double>(sock_->mtu()));
    o.Set("maxSendLength", static_cast<double>(sock_->maxSendLength()));
    o.Set("maxBatch", static_cast<double>(maxBatch_));
    return o;
  }

  Napi::Value Buffers(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object o = Napi::Object::New(env);
    o.Set("data", Napi::Uint8Array::New(env, out_.capacity, data_.Value(), 0));
    o.Set("offsets", offsets_.Value());
    o.Set("lengths", lengths_.Value());
    o.Set("flags", flags_.Value());
    return o;
  }

  Napi::Value RefHandle(const Napi::CallbackInfo& info) {
    handleRefd_ = true;
    if (poll_ != nullptr) uv_ref(reinterpret_cast<uv_handle_t*>(poll_));
    return info.Env().Undefined();
  }

  Napi::Value UnrefHandle(const Napi::CallbackInfo& info) {
    handleRefd_ = false;
    if (poll_ != nullptr) uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
    return info.Env().Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Shutdown(false, false);
    return info.Env().Undefined();
  }

  void EnsureOpen(Napi::Env env) {
    if (closed_) ThrowSysError(env, ifname_, SysError("port closed", EBADF));
  }

  // Idempotent. Safe from inside a batch callback: HandlePoll checks closed_ after every call.
  void Shutdown(bool inFinalizer, bool inCleanupHook) {
    if (closed_) return;
    closed_ = true;
    if (poll_ != nullptr) {
      uv_poll_stop(poll_);  // removes the fd from epoll now, so closing it below is safe
      if (inCleanupHook) {
        // The environment (a worker thread's) is going away: Node unloads this addon before its
        // loop runs the close callbacks, so a callback here would jump into unmapped code. Close
        // without one and leave the few bytes of the handle behind.
        uv_close(reinterpret_cast<uv_handle_t*>(poll_), nullptr);
      } else {
        uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
      }
      poll_ = nullptr;
    }
    try {
      kernel_ = sock_->Stats();
    } catch (const SysError&) {
      // keep the last counters read
    }
    truncated_ = sock_->truncated();
    sock_->Close();
    onBatch_.Reset();
    onError_.Reset();
    if (asyncContext_ != nullptr) {
      napi_async_destroy(Env(), asyncContext_);
      asyncContext_ = nullptr;
    }
    if (selfRefd_ && !inFinalizer) Unref();
    selfRefd_ = false;
    if (!inCleanupHook) napi_remove_env_cleanup_hook(Env(), &Port::OnEnvCleanup, this);
  }

  std::string ifname_;
  std::unique_ptr<PacketSocket> sock_;
  uv_poll_t* poll_ = nullptr;
  napi_async_context asyncContext_ = nullptr;
  Napi::FunctionReference onBatch_;
  Napi::FunctionReference onError_;
  Napi::Reference<Napi::ArrayBuffer> data_;
  Napi::Reference<Napi::Uint32Array> offsets_;
  Napi::Reference<Napi::Uint32Array> lengths_;
  Napi::Reference<Napi::Uint8Array> flags_;
  BatchOut out_{};
  std::vector<iovec> iov_;
  uint32_t maxBatch_ = 256;
  uint32_t batchesPerWake_ = 4;
  bool closed_ = false;
  bool selfRefd_ = false;
  bool handleRefd_ = true;
  uint64_t received_ = 0;
  uint64_t batches_ = 0;
  uint64_t sent_ = 0;
  uint64_t sendFailed_ = 0;
  uint64_t errors_ = 0;
  uint64_t truncated_ = 0;
  KernelStats kernel_;
};

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("AfPacketSocket", Port::Define(env));
  exports.Set("benchRecvmmsg", Napi::Function::New(env, BenchRecvmmsg, "benchRecvmmsg"));
  Napi::Object flags = Napi::Object::New(env);
  flags.Set("VLAN_RESTORED", static_cast<double>(FRAME_VLAN_RESTORED));
  flags.Set("TRUNCATED", static_cast<double>(FRAME_TRUNCATED));
  flags.Set("CSUM_NOT_READY", static_cast<double>(FRAME_CSUM_NOT_READY));
  flags.Set("CSUM_VALID", static_cast<double>(FRAME_CSUM_VALID));
  exports.Set("frameFlags", flags);
  return exports;
}

NODE_API_MODULE(tollgate_af_packet, Init)

}  // namespace tollgate
