package limits

import "testing"

func TestReservations(t *testing.T) {
	plain := testKey(t, Policy{Budget: 5})
	strict := testKey(t, Policy{Budget: 5, BudgetStrict: true})
	noBudget := testKey(t, Policy{RPM: 5, BudgetStrict: true})
	if !strict.Policy.BudgetStrict || noBudget.Policy.BudgetStrict {
		t.Fatalf("budget_strict applies to keys with a budget only: %+v, %+v", strict.Policy, noBudget.Policy)
	}
	for _, tc := range []struct {
		k                  *Key
		body, max, res     int64
		prompt, out, capTo int64
	}{
		{plain, 4000, 32000, 4096, 1001, 4096, 0},
		{plain, 4000, 100, 4096, 1001, 100, 0},
		{plain, 4000, 0, 4096, 1001, 4096, 0},
		{noBudget, 4000, 32000, 4096, 1001, 4096, 0},
		{strict, 4000, 32000, 4096, 4000, 32000, 0},
		{strict, 4000, 100, 4096, 4000, 100, 0},
		{strict, 4000, 0, 4096, 4000, 4096, 4096},
		{strict, 0, 0, 10, 1, 10, 10},
	} {
		prompt := tc.k.PromptReservation(tc.body)
		out, capTo := tc.k.OutputReservation(tc.max, tc.res)
		if prompt != tc.prompt || out != tc.out || capTo != tc.capTo {
			t.Errorf("%s, body %d, max_tokens %d, reserve %d: prompt %d, output %d, cap %d; want %d, %d, %d",
				tc.k.Name, tc.body, tc.max, tc.res, prompt, out, capTo, tc.prompt, tc.out, tc.capTo)
		}
	}
	// A default of budget_strict applies to the keys with a budget.
	kr, err := NewKeyring([]*KeyConfig{
		{KeySHA256: sha("a"), Name: "a", Policy: Policy{Budget: 1}},
		{KeySHA256: sha("b"), Name: "b", Policy: Policy{RPM: 1}},
	}, &Policy{BudgetStrict: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if k := kr.Keys(); !k[0].Policy.BudgetStrict || k[1].Policy.BudgetStrict {
		t.Errorf("default budget_strict: %+v, %+v", k[0].Policy, k[1].Policy)
	}
}
