# Cross build for 64-bit ARM Linux with Debian's cross toolchain (apt-get install
# g++-aarch64-linux-gnu qemu-user-static). Used by tools/ci/aarch64-tests.sh:
#
#   cmake -S . -B build/aarch64 -DCMAKE_TOOLCHAIN_FILE=tools/toolchains/aarch64-linux-gnu.cmake \
#         -DMOBILELLM_FMT_HEADER_ONLY=ON -DMOBILELLM_GTEST_SOURCE_DIR=/usr/src/googletest \
#         -DMOBILELLM_HOST_HEADERS=<overlay>
#
# Libraries and headers come from the target's multiarch root /usr/aarch64-linux-gnu only, never
# from the host's /usr/include or /usr/lib (whose glibc headers and x86 libraries would mix with the
# target's). The header-only libraries the project needs (fmt in header-only mode, nlohmann_json,
# xsimd) are architecture independent: MOBILELLM_HOST_HEADERS may name an overlay prefix holding
# just those, as include/<name> symlinks to the host's headers plus their CMake package files under
# share/cmake/; it is searched like a second target root. Programs built for the target run under
# qemu-user (CMAKE_CROSSCOMPILING_EMULATOR), which is how GoogleTest's test discovery lists them.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(MOBILELLM_CROSS_TRIPLE aarch64-linux-gnu)
set(CMAKE_C_COMPILER ${MOBILELLM_CROSS_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${MOBILELLM_CROSS_TRIPLE}-g++)

set(MOBILELLM_HOST_HEADERS "" CACHE PATH
    "Overlay prefix with the host's architecture-independent header-only libraries")
# try_compile projects (compiler checks, FindThreads) re-read this file; pass the overlay on.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES MOBILELLM_HOST_HEADERS)

set(CMAKE_FIND_ROOT_PATH /usr/${MOBILELLM_CROSS_TRIPLE})
if(MOBILELLM_HOST_HEADERS)
  list(APPEND CMAKE_FIND_ROOT_PATH ${MOBILELLM_HOST_HEADERS})
  # Code that includes a header-only library without a find_package() (xsimd) still finds it.
  set(CMAKE_C_STANDARD_INCLUDE_DIRECTORIES ${MOBILELLM_HOST_HEADERS}/include)
  set(CMAKE_CXX_STANDARD_INCLUDE_DIRECTORIES ${MOBILELLM_HOST_HEADERS}/include)
endif()
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)  # build tools run on the host
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64-static -L /usr/${MOBILELLM_CROSS_TRIPLE})
