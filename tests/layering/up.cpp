// Must not compile: the core part reaching up into the network layer (tests/CMakeLists.txt).
#include "net/ws_frame.hpp"
int main() {}
