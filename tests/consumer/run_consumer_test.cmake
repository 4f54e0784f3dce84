# Installs the build tree into a temporary prefix, then configures, builds and runs the consumer
# project against it. Invoked by ctest (see tests/CMakeLists.txt).
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  message("${out}${err}")
  if(NOT rc EQUAL 0)
    string(REPLACE ";" " " cmd "${ARGN}")
    message(FATAL_ERROR "failed (${rc}): ${cmd}")
  endif()
  set(last_output "${out}" PARENT_SCOPE)
endfunction()

run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})
foreach(f include/mobilellm/mobilellm.hpp bin/mobilellm lib/pkgconfig/mobilellm.pc
          lib/cmake/MobileLLM/MobileLLMConfig.cmake lib/cmake/MobileLLM/MobileLLMConfigVersion.cmake)
  if(NOT EXISTS ${prefix}/${f})
    message(FATAL_ERROR "install is missing ${f}")
  endif()
endforeach()

run(${CMAKE_COMMAND} -S ${CONSUMER_SRC} -B ${WORK_DIR}/build -G ${GENERATOR}
    -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_BUILD_TYPE=Release)
run(${CMAKE_COMMAND} --build ${WORK_DIR}/build)

# Open a real model when the shared reference data is there; otherwise just run.
set(model_dir ${SHARED_DIR}/models/tinystories-656k)
if(EXISTS ${model_dir}/config.json)
  run(${prefix}/bin/mobilellm convert ${model_dir} -o ${WORK_DIR}/tiny.gguf -q)
  run(${WORK_DIR}/build/consumer ${WORK_DIR}/tiny.gguf)
  if(NOT last_output MATCHES "2 blocks, embedding 128, vocab 2048.*\nOnce upon a time")
    message(FATAL_ERROR "consumer printed an unexpected summary: ${last_output}")
  endif()
else()
  message("../shared is absent: running the consumer without a model")
  run(${WORK_DIR}/build/consumer)
endif()
