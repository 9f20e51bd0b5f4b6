// End-to-end check of the generated C# SDK against a live `iogo dev` over
// TCP; tests/sdk_test.go compiles it with mcs and runs it under mono:
//
//	mono e2e.exe 127.0.0.1 10200
//
// It prints "e2e ok" and exits 0 on success.

using System;
using System.Collections.Generic;
using System.Threading;
using IogoSdk;

public static class E2E
{
    static void Check(bool cond, string what)
    {
        if (!cond) throw new Exception("check failed: " + what);
    }

    static void ExpectCode(Action call, int code, string what)
    {
        try
        {
            call();
        }
        catch (AggregateException e)
        {
            var ie = e.InnerException as IogoException;
            Check(ie != null && ie.Code == code, what + ": want code " + code + ", got " + e.InnerException);
            return;
        }
        throw new Exception(what + ": want code " + code + ", got success");
    }

    public static int Main(string[] args)
    {
        using (var c = new Client(args[0], int.Parse(args[1])))
        using (var listener = new Client(args[0], int.Parse(args[1])))
        {
            ExpectCode(() => LoginApi.WhoAmI(c, new Google.Protobuf.Empty()).Wait(), (int)ErrorCode.LoginRequired, "whoAmI before login");
            var user = LoginApi.GuestLogin(c, new Iogo.Login.GuestLogin { DeviceId = "cs-e2e", Nickname = "cs" }).Result;
            Check(user.Id > 0 && user.Nickname == "cs", "guestLogin");
            Check(LoginApi.WhoAmI(c, new Google.Protobuf.Empty()).Result.Id == user.Id, "whoAmI");
            Check(DemoApi.Hello(c, new Iogo.Demo.HelloReq { Name = "cs" }).Result.Text == "hello, cs", "hello");
            Check(DemoApi.Sum(c, new List<long> { 40, 2 }).Result == 42, "sum");
            ExpectCode(() => DemoApi.Fail(c, 4242).Wait(), 4242, "fail");

            var got = new ManualResetEventSlim();
            DemoApi.OnEchoMsg(listener, m => { if (m.Text == "hi from cs") got.Set(); });
            DemoApi.Hello(listener, new Iogo.Demo.HelloReq()).Wait();
            DemoApi.Chat(c, new Iogo.Demo.EchoMsg { Text = "hi from cs" });
            Check(got.Wait(TimeSpan.FromSeconds(10)), "chat push");
        }
        Console.WriteLine("e2e ok");
        return 0;
    }
}
