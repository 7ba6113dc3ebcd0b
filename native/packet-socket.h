// An AF_PACKET socket on one host interface with a TPACKET_V3 receive ring and a TX ring or
// sendmmsg for batched sends (DESIGN: The packet's way, step 1; STACK-NOTES: Packets). No N-API here.
#pragma once

#include <linux/if_packet.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace tollgate {

// A failed system call: what was called and the errno it left.
class SysError : public std::runtime_error {
 public:
  SysError(std::string syscall, int err);
  const std::string syscall;
  const int err;
};

// A non-blocking AF_PACKET SOCK_RAW socket with protocol 0 (receives nothing until bound),
// created in the named network namespace (see OpenOptions::netns).
int OpenPacketSocket(const std::string& netns);

struct OpenOptions {
  std::string ifname;
  // Network namespace to open the socket in: a name under /run/netns or an absolute path;
  // empty keeps the caller's namespace. A socket stays in the namespace it was created in.
  std::string netns;
  bool promiscuous = false;
  bool ignoreOutgoing = true;
  bool qdiscBypass = false;
  bool txRing = false;  // sendmmsg measured 12-26 % faster than the TX ring on veth (bench/af-packet-io.ts)
  uint32_t blockSize = 1 << 18;  // power of two, multiple of the page size
  uint32_t blockCount = 16;
  uint32_t blockTimeoutMs = 1;  // a partly filled block is handed over after this long
  uint32_t txFrameSize = 2048;  // TX ring slot; the largest frame is this minus the header
  uint32_t txFrameCount = 1024;
};

// Per-frame flags handed to JavaScript next to each frame (mirrored in af-packet.ts).
enum FrameFlag : uint8_t {
  FRAME_VLAN_RESTORED = 1,  // the kernel had stripped an 802.1Q/802.1ad tag; it is back in the frame
  FRAME_TRUNCATED = 2,      // the frame was longer than a ring block; only the head is here
  FRAME_CSUM_NOT_READY = 4, // locally sent with checksum offload: the L4 checksum is not filled in
  FRAME_CSUM_VALID = 8,     // the device verified the L4 checksum
};

// Where ReadBatch copies frames: a caller-owned buffer and parallel per-frame arrays.
struct BatchOut {
  uint8_t* data;
  size_t capacity;
  uint32_t* offsets;
  uint32_t* lengths;
  uint8_t* flags;
  uint32_t maxFrames;
};

struct SendResult {
  uint32_t sent = 0;
  uint32_t failed = 0;  // refused by the kernel (no buffer space, too long): counted, not thrown
};

struct KernelStats {
  uint64_t packets = 0;  // seen by the socket, including dropped
  uint64_t drops = 0;    // dropped because the receive ring was full
  uint64_t freezes = 0;  // times the ring froze (TPACKET_V3 tp_freeze_q_cnt)
};

class PacketSocket {
 public:
  explicit PacketSocket(const OpenOptions& opts);  // throws SysError
  ~PacketSocket();
  PacketSocket(const PacketSocket&) = delete;
  PacketSocket& operator=(const PacketSocket&) = delete;

  int fd() const { return fd_; }
  int ifindex() const { return ifindex_; }
  uint64_t mac() const { return mac_; }
  uint32_t mtu() const { return mtu_; }
  // The largest frame Send accepts.
  uint32_t maxSendLength() const;
  // The smallest BatchOut capacity that always holds one frame.
  size_t minBatchCapacity() const { return static_cast<size_t>(blockSize_) + 4; }

  // Copies up to out.maxFrames ready frames out of the ring; returns how many. Never blocks.
  uint32_t ReadBatch(const BatchOut& out);
  // Sends frames; never blocks. Throws SysError only for errors that no retry can fix.
  SendResult Send(const iovec* frames, uint32_t count);
  // Reads and accumulates PACKET_STATISTICS (the kernel resets its counters on each read).
  KernelStats Stats();
  uint64_t truncated() const { return truncated_; }
  // Reads and clears the socket's pending error (SO_ERROR); 0 if none.
  int TakeError();
  void Close();

 private:
  SendResult SendRing(const iovec* frames, uint32_t count);
  SendResult SendMmsg(const iovec* frames, uint32_t count);
  void ReleaseBlock();

  int fd_ = -1;
  int ifindex_ = 0;
  uint64_t mac_ = 0;
  uint32_t mtu_ = 0;
  uint8_t* map_ = nullptr;
  size_t mapLength_ = 0;
  // Receive ring (TPACKET_V3 blocks).
  uint32_t blockSize_ = 0;
  uint32_t blockCount_ = 0;
  uint32_t block_ = 0;          // the block being read or awaited
  uint32_t framesLeft_ = 0;     // frames still unread in the open block
  uint8_t* nextFrame_ = nullptr;
  bool blockOpen_ = false;
  // TX ring (TPACKET_V3 frames) or sendmmsg scratch.
  bool txRing_ = false;
  uint8_t* tx_ = nullptr;
  uint32_t txFrameSize_ = 0;
  uint32_t txFrameCount_ = 0;
  uint32_t txHead_ = 0;
  std::vector<mmsghdr> msgs_;
  KernelStats stats_;
  uint64_t truncated_ = 0;
};

}  // namespace tollgate
