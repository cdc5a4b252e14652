// Must compile with the same command as up.cpp: the core part's own headers.
#include "core/events.hpp"
int main() {}
