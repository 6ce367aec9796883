package udpport

// mediaSocketBuffer is the receive (and send) buffer, in bytes, asked for
// each socket of the shared media UDP port. Every publisher's packets
// queue in that one socket: with the kernel's default (208 KiB, about 90
// full-size datagrams once the kernel's accounting is counted) a server
// that is busy or descheduled for 8 ms at 16 four-party rooms already
// dropped packets; 4 MiB holds about a third of a second of that load.
const mediaSocketBuffer = 4 << 20
