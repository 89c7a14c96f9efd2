package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/crossin-lab/crossin/schema"
)

func main() {
	s, err := schema.Load(os.Args[1:]...)
	if err != nil {
		fmt.Println("ERROR:\n" + err.Error())
		return
	}
	b, _ := json.MarshalIndent(s, "", " ")
	fmt.Println(string(b))
}
