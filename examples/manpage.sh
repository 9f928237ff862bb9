#!/bin/sh
# vale(4)'s example, bounded in time: a capture on port vale-a:1 and a traffic
# generator on port vale-a:0 of switch vale-a. The first program starts the
# daemon, which creates the switch and the ports, and exits 2 s after the last
# port closes. The generator's frames go to ff:ff:ff:ff:ff:ff, so the switch
# floods them to the capture port.
cd "$(dirname "$0")/.." || exit 1
bin/uvale tcpdump -ni vale-a:1 -c 8 &
# wait until the capture's port exists (the seed's example races here; we do not)
until bin/uvale ctl -l vale-a:1 >/dev/null 2>&1; do sleep 0.1; done
bin/uvale pkt-gen -i vale-a:0 -f tx -n 5000000
wait
