# qtune_write_if_changed(PATH CONTENT): writes CONTENT to PATH unless PATH
# already holds exactly that, so that generated sources whose content did not
# change do not rebuild their dependents. For scripts run with `cmake -P`.
function(qtune_write_if_changed path content)
  if(EXISTS "${path}")
    file(READ "${path}" old)
    if(old STREQUAL content)
      return()
    endif()
  endif()
  file(WRITE "${path}" "${content}")
endfunction()
